import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { recordConfirmationDecision, selectOrder, type OrderRow } from '../../db/orders';
import { selectProcessedMessage } from '../../db/processed-messages';
import { workflowIdFor, type ConfirmationDecision } from '../../domain/order';
import { IntakeOverloadedError } from '../../intake/admission';
import { MessageConflictError, startOrder, TemporalUnavailableError } from '../../intake/start-order';
import { cancelSignal, confirmSignal, statusQuery } from '../../contract/saga';
import { HttpError, RETRY_AFTER_SECONDS } from '../http-errors';
import { orderCommandSchema } from '../../contract/order';
import { cancelSchema, confirmSchema, idempotencyHeaders, orderIdParams } from '../schemas';

/** How long a request waits for Temporal before answering without it. */
const SAGA_QUERY_DEADLINE_MS = 3_000;
/** How long a decision waits for a just-started saga to write its order row. */
const ORDER_ROW_WAIT_MS = 3_000;

function orderView(row: OrderRow) {
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
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function registerOrderRoutes(app: FastifyInstance, { taskQueue }: { taskQueue: string }): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.post(
    '/orders',
    { schema: { body: orderCommandSchema, headers: idempotencyHeaders, tags: ['orders'], summary: 'Place an order (starts its saga)' } },
    async (request, reply) => {
      const headerId = request.headers['idempotency-key'];
      const { messageId: bodyId, ...order } = request.body;
      if (headerId && bodyId && headerId !== bodyId) {
        throw new HttpError(400, 'MessageIdMismatch', 'Idempotency-Key header and body messageId differ');
      }
      const messageId = headerId ?? bodyId;
      if (!messageId) throw new HttpError(400, 'MissingMessageId', 'send an Idempotency-Key header or a messageId in the body');
      try {
        const result = await startOrder({ client: app.temporal, pool: app.db, taskQueue, admission: app.admission }, { messageId, ...order }, 'rest');
        app.metrics.ordersStarted.inc({ source: 'rest', result: result.duplicate ? 'duplicate' : 'started' });
        return reply.code(result.duplicate ? 200 : 202).send({ ...result, status: result.status ?? 'PENDING' });
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

  routes.get('/orders/:orderId', { schema: { params: orderIdParams, tags: ['orders'] } }, async (request) => {
    const { orderId } = request.params;
    const saga = await runningSagaStatus(orderId).catch((err: unknown) => {
      request.log.warn({ err, orderId }, 'workflow lookup failed or timed out; answering from the database');
      return 'unreachable' as const;
    });
    const row = await selectOrder(app.db, orderId);
    if (saga && saga !== 'unreachable') return { ...(row ? orderView(row) : { orderId, status: 'PENDING' }), saga, source: 'workflow' };
    if (row) return { ...orderView(row), source: 'database', ...(saga === 'unreachable' ? { workflowUnreachable: true } : {}) };
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

  /** The saga writes the order row in its first step; a decision waits briefly for it, so it is always stored first. */
  async function orderRowOnceOpened(orderId: string): Promise<OrderRow> {
    const handle = app.temporal.workflow.getHandle(workflowIdFor(orderId));
    await app.temporal
      .withDeadline(Date.now() + SAGA_QUERY_DEADLINE_MS, () => handle.describe())
      .catch((err: unknown) => {
        throw err instanceof WorkflowNotFoundError ? new HttpError(404, 'OrderNotFound', `no order ${orderId}`) : err;
      });
    for (const deadline = Date.now() + ORDER_ROW_WAIT_MS; Date.now() < deadline; await sleep(50)) {
      const row = await selectOrder(app.db, orderId);
      if (row) return row;
    }
    throw new HttpError(503, 'OrderOpening', `order ${orderId} is still being opened; retry`, { 'retry-after': '1' });
  }

  const decide = (decision: ConfirmationDecision) => async (orderId: string, reason?: string) => {
    const row = (await selectOrder(app.db, orderId)) ?? (await orderRowOnceOpened(orderId));
    const settled = decision === 'confirm' ? 'CONFIRMED' : 'CANCELLED';
    if (row.status === settled) return { orderId, decision, status: row.status };
    if (row.status !== 'PENDING') throw new HttpError(409, 'OrderClosed', `order ${orderId} is already ${row.status}`);
    // Stored first, and the first decision wins: if the signal is lost, the saga's check-back still finds it.
    const standing = await recordConfirmationDecision(app.db, { id: orderId, decision });
    if (standing === undefined) {
      const now = await selectOrder(app.db, orderId);
      if (now?.status === settled) return { orderId, decision, status: now.status };
      throw new HttpError(409, 'OrderClosed', `order ${orderId} is already ${now?.status ?? 'closed'}`);
    }
    if (standing !== decision) throw new HttpError(409, 'DecisionConflict', `order ${orderId} already has decision ${standing}`);
    const handle = app.temporal.workflow.getHandle(workflowIdFor(orderId));
    const signal = () => (decision === 'confirm' ? handle.signal(confirmSignal) : handle.signal(cancelSignal, { reason }));
    await app.temporal.withDeadline(Date.now() + SAGA_QUERY_DEADLINE_MS, signal).catch((err: unknown) => {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    });
    return { orderId, decision, status: row.status };
  };

  routes.post(
    '/orders/:orderId/confirm',
    { config: { bodyOptional: true }, schema: { params: orderIdParams, body: confirmSchema, tags: ['orders'] } },
    async (request, reply) => reply.code(202).send(await decide('confirm')(request.params.orderId)),
  );
  routes.post(
    '/orders/:orderId/cancel',
    { config: { bodyOptional: true }, schema: { params: orderIdParams, body: cancelSchema, tags: ['orders'] } },
    async (request, reply) => reply.code(202).send(await decide('cancel')(request.params.orderId, request.body?.reason)),
  );
}
