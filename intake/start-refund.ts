import type { Client } from '@temporalio/client';
import { refundFingerprint } from '../billing/refund-fingerprint';
import type { RefundMessage } from '../contract/refund';
import { RefundStatusKey, type RefundSagaInput } from '../contract/refund-saga';
import { NeedsReviewKey, OrderIdKey } from '../contract/search-attributes';
import { selectOrder, selectOrderForUpdate, type OrderRow } from '../db/orders';
import { withTransaction, type Pool, type Queryable } from '../db/pool';
import { selectProcessedMessage } from '../db/processed-messages';
import { insertRefund, markRefundStarted, selectRefund, selectRequestedRefundCents, type RefundRow } from '../db/refunds';
import { formatCents } from '../domain/order-summary';
import { refundWorkflowIdFor } from '../domain/refund';
import { isTemporalUnavailable } from '../lib/temporal-errors';
import { refundSaga } from '../workflows/refund-saga';
import { TemporalUnavailableError } from './start-order';
import { startOnce, type EagerStart } from './start-workflow';

const START_DEADLINE_MS = 5_000;
/** A stored refund whose start has not come back holds its share of the cap this long (its start's deadlines and more). */
export const START_LEASE_SECONDS = 15;

export type RefundRefusal = 'OrderNotFound' | 'OrderNotRefundable' | 'RefundExceedsPaid' | 'RefundIdConflict';

/** A refund the intake refuses before anything is stored or started. */
export class RefundRefusedError extends Error {
  override name = 'RefundRefusedError';
  constructor(
    readonly type: RefundRefusal,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface RefundStartResult {
  refund: RefundRow;
  workflowId: string;
  runId: string;
  duplicate: boolean;
}

/**
 * The one function both producers call for a refund. The refund row is the claim on its ID and is written,
 * with the order row locked, only if the order is confirmed and the refunds not rejected fit within what it
 * paid; the saga's claim step then enforces the cap in the database whatever raced. A copy (same ID, same
 * content) answers the stored refund and starts its saga again, which collapses onto the first.
 */
export async function startRefund(deps: { client: Client; pool: Pool; taskQueue: string } & EagerStart, message: RefundMessage): Promise<RefundStartResult> {
  // An empty reason is none: stored, fingerprinted and passed on as none.
  const { reason, ...rest } = message;
  const request: RefundMessage = { ...rest, ...(reason ? { reason } : {}) };
  const fingerprint = refundFingerprint(request);
  const existing = await selectRefund(deps.pool, request.refundId);
  const { refund, created } = existing ? { refund: existing, created: false } : await recordRefund(deps.pool, request, fingerprint);
  if (refund.fingerprint !== fingerprint) {
    throw new RefundRefusedError('RefundIdConflict', `refund ${request.refundId} was already requested with different content`, { refundId: request.refundId });
  }
  const runId = await startRefundSaga(deps, toRefundSagaInput(request));
  if (!refund.run_id) await markRefundStarted(deps.pool, { id: refund.id, runId });
  // A copy of a refund whose start never came back (past its lease) is the one that starts it: accepted, not a duplicate.
  const stale = refund.run_id === null && Date.now() - refund.created_at.getTime() > START_LEASE_SECONDS * 1_000;
  return { refund, workflowId: refundWorkflowIdFor(request.refundId), runId, duplicate: !created && !stale };
}

async function recordRefund(pool: Pool, request: RefundMessage, fingerprint: string): Promise<{ refund: RefundRow; created: boolean }> {
  return withTransaction(pool, async (tx) => {
    const order = await selectOrderForUpdate(tx, request.orderId);
    // A copy that waited for the order's lock finds the first one's row: it is that refund, not one more.
    const raced = order && (await selectRefund(tx, request.refundId));
    if (raced) return { refund: raced, created: false };
    const refusal = await refusalOf(tx, request, order);
    if (refusal) throw refusal;
    const created = await insertRefund(tx, {
      id: request.refundId,
      orderId: order!.id,
      amountCents: request.amountCents,
      reason: request.reason,
      fingerprint,
    });
    return { refund: (await selectRefund(tx, request.refundId))!, created };
  });
}

/**
 * Why the intake would refuse this new refund now (no order, an order not confirmed, more than it paid less
 * what its live refunds ask for), or undefined. Read-only: `replay-dlq` asks it for its dry run.
 */
export async function refundRefusalNow(db: Queryable, request: RefundMessage): Promise<RefundRefusedError | undefined> {
  return refusalOf(db, request, await selectOrder(db, request.orderId));
}

async function refusalOf(db: Queryable, request: RefundMessage, order: OrderRow | undefined): Promise<RefundRefusedError | undefined> {
  if (!order) {
    // An accepted order whose saga has not written its row yet is not confirmed: not missing.
    if (await selectProcessedMessage(db, request.orderId)) return notRefundable(request, request.orderId, 'PENDING');
    return new RefundRefusedError('OrderNotFound', `refund ${request.refundId}: no order ${request.orderId}`);
  }
  if (order.status !== 'CONFIRMED') return notRefundable(request, order.id, order.status);
  const requestedCents = await selectRequestedRefundCents(db, order.id, START_LEASE_SECONDS);
  if (requestedCents + request.amountCents > order.total_cents) {
    return new RefundRefusedError(
      'RefundExceedsPaid',
      `refund ${request.refundId}: order ${order.id} paid ${order.total_cents} cents and its refunds ask for ${requestedCents}; ${request.amountCents} more would pass what was paid`,
      { orderId: order.id, totalCents: order.total_cents, requestedCents, amountCents: request.amountCents },
    );
  }
  return undefined;
}

function notRefundable(request: RefundMessage, orderId: string, status: string): RefundRefusedError {
  return new RefundRefusedError('OrderNotRefundable', `refund ${request.refundId}: order ${orderId} is ${status}; only a confirmed order can be refunded`, {
    orderId,
    status,
  });
}

function toRefundSagaInput({ refundId, orderId, amountCents, reason }: RefundMessage): RefundSagaInput {
  return { refundId, orderId, amountCents, ...(reason === undefined ? {} : { reason }) };
}

/** The saga's input from the stored row, the same as its request gave. */
export function refundSagaInputOf(refund: RefundRow): RefundSagaInput {
  return { refundId: refund.id, orderId: refund.order_id, amountCents: refund.amount_cents, ...(refund.reason === null ? {} : { reason: refund.reason }) };
}

export async function startRefundSaga(
  { client, taskQueue, eager, onEager }: { client: Client; taskQueue: string } & EagerStart,
  input: RefundSagaInput,
): Promise<string> {
  try {
    return await startOnce(
      client,
      refundSaga,
      {
        taskQueue,
        workflowId: refundWorkflowIdFor(input.refundId),
        args: [input],
        staticSummary: `refund ${formatCents(input.amountCents)} of order ${input.orderId}`,
        typedSearchAttributes: [
          { key: OrderIdKey, value: input.orderId },
          { key: RefundStatusKey, value: 'RUNNING' },
          { key: NeedsReviewKey, value: false },
        ],
      },
      { startMs: START_DEADLINE_MS, lookupMs: START_DEADLINE_MS },
      { ...(eager === undefined ? {} : { eager }), ...(onEager ? { onEager } : {}) },
    );
  } catch (err) {
    if (isTemporalUnavailable(err)) {
      throw new TemporalUnavailableError(
        `Temporal unavailable: ${err instanceof Error ? err.message : String(err)}; the refund is stored and starts once Temporal answers (retrying is safe)`,
      );
    }
    throw err;
  }
}
