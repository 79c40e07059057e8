import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { selectOrder, type OrderRow } from '../../db/orders';
import { selectProcessedMessage } from '../../db/processed-messages';
import { selectRecentRefundsOfOrder, type RefundRow } from '../../db/refunds';
import { selectResolution, type ResolutionRow } from '../../db/resolutions';
import { resolutionView } from '../../intake/review-order';
import { workflowIdFor } from '../../domain/order';
import { IntakeOverloadedError } from '../../intake/admission';
import { MessageConflictError, startOrder, TemporalUnavailableError } from '../../intake/start-order';
import { statusQuery } from '../../contract/saga';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';
import { Limits } from '../../domain/limits';
import { errorResponses, orderAnswer, orderBody, orderStartHeaders, orderIdParams, startAnswer, type OrderAnswer } from '../schemas';
import { refundViewOf } from '../refund-view';
import { preferredWaitSeconds } from '../prefer';

/** An order lists its newest refunds; refundCount says how many it has. */
const LISTED_REFUNDS = 100;

/** How long a request waits for Temporal before answering without it. */
const SAGA_QUERY_DEADLINE_MS = 3_000;

function orderView(row: OrderRow, { refunds, total }: { refunds: RefundRow[]; total: number }, resolution?: ResolutionRow) {
  return {
    orderId: row.id,
    customerId: row.customer_id,
    items: row.items,
    totalCents: row.total_cents,
    status: row.status,
    confirmation: row.confirmation,
    cancelReason: row.cancel_reason,
    needsReview: row.needs_review,
    reviewReason: row.review_reason,
    ...(resolution ? { resolution: resolutionView(resolution) } : {}),
    refundedCents: row.refunded_cents,
    refunds: refunds.map(refundViewOf),
    refundCount: total,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function registerOrderRoutes(app: FastifyInstance, { taskQueue, maxWaitSeconds }: { taskQueue: string; maxWaitSeconds: number }): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post(
    '/orders',
    {
      schema: {
        body: orderBody,
        headers: orderStartHeaders,
        tags: ['orders'],
        summary: 'Place an order (starts its saga)',
        description:
          "The message ID is the order ID: send it as the Idempotency-Key header or as the body's messageId. With neither, 400 MissingMessageId; " +
          'with both, they must be equal, else 400 MessageIdMismatch. The same ID with the same content answers the same order (200); ' +
          `with other content, 409 MessageIdConflict. The order total (the sum of quantity × unitPriceCents) must be at most ${Limits.maxOrderTotalCents} cents, else 400 ValidationError.`,
        response: {
          202: startAnswer.describe('Accepted: its saga started (and, with `Prefer: wait`, had not ended within the wait)'),
          200: startAnswer.describe('A copy: the same workflow and run; or, with `Prefer: wait`, the saga ended within the wait'),
          ...errorResponses(400, 401, 409, 413, 415, 503),
        },
      },
    },
    async (request, reply) => {
      const headerId = request.headers['idempotency-key'];
      const { messageId: bodyId, ...order } = request.body;
      if (headerId && bodyId && headerId !== bodyId) {
        throw new HttpError(400, 'MessageIdMismatch', 'Idempotency-Key header and body messageId differ');
      }
      const messageId = headerId ?? bodyId;
      if (!messageId) throw new HttpError(400, 'MissingMessageId', 'send an Idempotency-Key header or a messageId in the body');
      try {
        const result = await startOrder(
          {
            client: app.temporal,
            pool: app.db,
            taskQueue,
            admission: app.admission,
            eager: app.eagerStart,
            onEager: () => app.metrics.eagerStarts.inc({ saga: 'order' }),
          },
          { messageId, ...order },
          'rest',
        );
        app.metrics.ordersStarted.inc({ source: 'rest', result: result.duplicate ? 'duplicate' : 'started' });
        const waitSeconds = preferredWaitSeconds(request.headers.prefer, maxWaitSeconds);
        if (waitSeconds === undefined) return reply.code(result.duplicate ? 200 : 202).send({ ...result, status: result.status ?? 'PENDING' });
        reply.header('preference-applied', `wait=${waitSeconds}`);
        const ended = result.status && result.status !== 'PENDING';
        const outcome = ended || waitSeconds === 0 ? undefined : await app.orderEndings.wait(result.orderId, waitSeconds * 1_000);
        if (outcome) return reply.code(200).send({ ...result, ...outcome });
        return reply.code(result.duplicate || ended ? 200 : 202).send({ ...result, status: result.status ?? 'PENDING' });
      } catch (err) {
        if (err instanceof MessageConflictError) {
          app.metrics.ordersStarted.inc({ source: 'rest', result: 'conflict' });
          throw new HttpError(409, 'MessageIdConflict', err.message);
        }
        if (err instanceof IntakeOverloadedError) {
          app.metrics.ordersStarted.inc({ source: 'rest', result: 'overloaded' });
          throw new HttpError(503, 'Overloaded', `${err.message}; nothing was started`, { 'retry-after': String(Math.ceil(err.retryAfterMs / 1000)) });
        }
        if (err instanceof TemporalUnavailableError) {
          app.metrics.ordersStarted.inc({ source: 'rest', result: 'unavailable' });
          throw new HttpError(
            503,
            'TemporalUnavailable',
            'order intake is temporarily unavailable and the start may not have happened; retry with the same Idempotency-Key and body',
            {
              'retry-after': RETRY_AFTER_SECONDS,
            },
          );
        }
        throw err;
      }
    },
  );

  const readOrder = {
    params: orderIdParams,
    tags: ['orders'],
    summary: 'An order and, while it runs, its saga',
    response: { 200: orderAnswer, ...errorResponses(400, 401, 404) },
  };
  routes.get('/orders/:orderId', { schema: readOrder }, async (request): Promise<OrderAnswer> => {
    const { orderId } = request.params;
    const saga = await runningSagaStatus(orderId).catch((err: unknown) => {
      request.log.warn({ err, orderId }, 'workflow lookup failed or timed out; answering from the database');
      return 'unreachable' as const;
    });
    const row = await selectOrder(app.db, orderId);
    // Only an order that was flagged can have a resolution.
    const resolution = row?.review_reason ? await selectResolution(app.db, orderId) : undefined;
    const refunds = row?.status === 'CONFIRMED' ? await selectRecentRefundsOfOrder(app.db, orderId, LISTED_REFUNDS) : { refunds: [], total: 0 };
    if (saga && saga !== 'unreachable') return { ...(row ? orderView(row, refunds, resolution) : { orderId, status: 'PENDING' }), saga, source: 'workflow' };
    if (row) return { ...orderView(row, refunds, resolution), source: 'database', ...(saga === 'unreachable' ? { workflowUnreachable: true } : {}) };
    // Accepted, but its saga has not written the order yet and Temporal cannot say more right now.
    if (saga === 'unreachable' && (await selectProcessedMessage(app.db, orderId))) {
      return { orderId, status: 'PENDING', source: 'database', workflowUnreachable: true };
    }
    throw new HttpError(404, 'OrderNotFound', `no order ${orderId}`);
  });

  /** The saga's status query while it runs, within a deadline (a stalled Temporal or a frozen worker must not hang the request). */
  async function runningSagaStatus(orderId: string) {
    const handle = app.temporal.workflow.getHandle(workflowIdFor(orderId));
    try {
      return await app.temporal.withDeadline(Date.now() + SAGA_QUERY_DEADLINE_MS, async () => {
        const description = await handle.describe();
        return description.status.name === 'RUNNING' ? await handle.query(statusQuery) : undefined;
      });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }
}
