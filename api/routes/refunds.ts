import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { selectRefund } from '../../db/refunds';
import { RefundRefusedError, startRefund } from '../../intake/start-refund';
import { isDatabaseUnavailable } from '../../db/errors';
import { TemporalUnavailableError } from '../../intake/start-order';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';
import { refundViewOf } from '../refund-view';
import { errorResponses, idempotencyHeaders, orderIdParams, refundAnswer, refundBody, refundParams, refundView } from '../schemas';

const refusalStatus = { OrderNotFound: 404, OrderNotRefundable: 409, RefundExceedsPaid: 409, RefundIdConflict: 409 } as const;

export function registerRefundRoutes(app: FastifyInstance, { taskQueue }: { taskQueue: string }): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post(
    '/orders/:orderId/refunds',
    {
      schema: {
        params: orderIdParams,
        body: refundBody,
        headers: idempotencyHeaders,
        tags: ['refunds'],
        summary: 'Refund a confirmed order, in part or in full (starts its refund saga)',
        description:
          "The refund ID is its idempotency key: send it as the Idempotency-Key header or as the body's refundId. With neither, 400 MissingRefundId; " +
          'with both, they must be equal, else 400 RefundIdMismatch. The same ID with the same content answers the same refund (200); with other content, ' +
          '409 RefundIdConflict. The order must be CONFIRMED (else 409 OrderNotRefundable), and its refunds together never pass what was paid (409 RefundExceedsPaid).',
        response: {
          202: refundAnswer.describe('Accepted: its saga started'),
          200: refundAnswer.describe('A copy: the same refund'),
          ...errorResponses(400, 401, 404, 409, 413, 415),
        },
      },
    },
    async (request, reply) => {
      const headerId = request.headers['idempotency-key'];
      const { refundId: bodyId, ...refund } = request.body;
      if (headerId && bodyId && headerId !== bodyId) throw new HttpError(400, 'RefundIdMismatch', 'Idempotency-Key header and body refundId differ');
      const refundId = headerId ?? bodyId;
      if (!refundId) throw new HttpError(400, 'MissingRefundId', 'send an Idempotency-Key header or a refundId in the body');
      try {
        const result = await startRefund(
          { client: app.temporal, pool: app.db, taskQueue, eager: app.eagerStart, onEager: () => app.metrics.eagerStarts.inc({ saga: 'refund' }) },
          { refundId, orderId: request.params.orderId, ...refund },
        );
        return reply
          .code(result.duplicate ? 200 : 202)
          .send({ ...refundViewOf(result.refund), workflowId: result.workflowId, runId: result.runId, duplicate: result.duplicate });
      } catch (err) {
        if (err instanceof RefundRefusedError) throw new HttpError(refusalStatus[err.type], err.type, err.message, {}, err.details);
        if (err instanceof TemporalUnavailableError) throw new HttpError(503, 'TemporalUnavailable', err.message, { 'retry-after': RETRY_AFTER_SECONDS });
        // The row may have committed before the database went: the same refund again is the way to find out.
        if (isDatabaseUnavailable(err)) {
          throw new HttpError(
            503,
            'DatabaseUnavailable',
            'the database is temporarily unavailable and the refund may have been stored; retry with the same refundId and body',
            {
              'retry-after': RETRY_AFTER_SECONDS,
            },
          );
        }
        throw err;
      }
    },
  );

  routes.get(
    '/orders/:orderId/refunds/:refundId',
    {
      schema: {
        params: refundParams,
        tags: ['refunds'],
        summary: "A refund's state: PENDING while its saga runs, then REFUNDED or REJECTED with the reason",
        response: { 200: refundView, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const row = await selectRefund(app.db, request.params.refundId);
      if (!row || row.order_id !== request.params.orderId)
        throw new HttpError(404, 'RefundNotFound', `no refund ${request.params.refundId} of order ${request.params.orderId}`);
      return refundViewOf(row);
    },
  );
}
