import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkBackNowUpdate, OperatorRefusal, resolveUpdate, type CheckBackOutcome, type ReviewResolution } from '../contract/saga';
import { selectOrder, selectOrderForUpdate, type OrderRow } from '../db/orders';
import { withTransaction, type Pool } from '../db/pool';
import { clearReviewFlag, insertResolution, selectFlaggedOrders, selectResolution, type ResolutionRow } from '../db/resolutions';
import { workflowIdFor } from '../domain/order';
import { isTemporalUnavailable } from '../lib/temporal-errors';
import { isWorkflowClosed, OrderNotFoundError } from './decide-order';
import { TemporalUnavailableError } from './start-order';

/** How long a stored resolution waits for its saga to reach the review wait (it may still be writing the cancel). */
const RELEASE_DEADLINE_MS = 5_000;
const RELEASE_RETRY_MS = 200;
/** How long the saga may take to accept a check-back request (a worker must run its validator). */
const CHECK_BACK_ACCEPT_MS = 5_000;
/** A check-back is one status read: two attempts of at most 10 s each; the CLI waits that long, the API less. */
export const CHECK_BACK_WAIT_MS = 25_000;

export type ReviewRefusalCode = 'NotFlagged' | 'AlreadyResolved' | 'NotCheckingBack';

/** The order is not in a state the operator's request applies to; nothing was written. */
export class ReviewRefusedError extends Error {
  override name = 'ReviewRefusedError';
  constructor(
    readonly code: ReviewRefusalCode,
    message: string,
    readonly current: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export interface FlaggedOrder {
  orderId: string;
  customerId: string;
  status: string;
  totalCents: number;
  reviewReason: string | null;
  flaggedAt: string;
}

export interface ResolutionResult {
  orderId: string;
  reviewReason: string;
  resolvedBy: string;
  note: string;
  resolvedAt: string;
  /** False: this exact resolution was stored before (a retry). */
  created: boolean;
  /** released: the saga cleared NeedsReview and completed; closed: its workflow had already ended (a saga from before S11). */
  saga: 'released' | 'closed';
}

export async function listFlaggedOrders(pool: Pool, limit = 100): Promise<FlaggedOrder[]> {
  const rows = await selectFlaggedOrders(pool, limit);
  return rows.map((r) => ({
    orderId: r.id,
    customerId: r.customer_id,
    status: r.status,
    totalCents: r.total_cents,
    reviewReason: r.review_reason,
    flaggedAt: r.updated_at.toISOString(),
  }));
}

export const resolutionView = (r: ResolutionRow): ReviewResolution => ({ resolvedBy: r.resolved_by, note: r.note, resolvedAt: r.resolved_at.toISOString() });

/**
 * Stores an operator's resolution of a flagged order (one per order, never edited) and clears the flag in the
 * same transaction, then releases the saga waiting for it, which clears its NeedsReview search attribute. The
 * same resolution again answers the stored one and releases the saga again if an earlier try could not.
 */
export async function resolveOrder(
  deps: { client: Client; pool: Pool },
  request: { orderId: string; resolvedBy: string; note: string },
): Promise<ResolutionResult> {
  const { orderId } = request;
  const { row, created } = await withTransaction(deps.pool, async (tx) => {
    const order = await selectOrderForUpdate(tx, orderId);
    if (!order) throw new OrderNotFoundError(`no order ${orderId}`);
    const stored = await selectResolution(tx, orderId);
    if (stored) {
      if (stored.resolved_by === request.resolvedBy && stored.note === request.note) return { row: stored, created: false };
      throw new ReviewRefusedError('AlreadyResolved', `order ${orderId} was resolved by ${stored.resolved_by} at ${stored.resolved_at.toISOString()}`, {
        status: order.status,
        resolution: resolutionView(stored),
      });
    }
    if (!order.needs_review) throw new ReviewRefusedError('NotFlagged', `order ${orderId} is not flagged for review (${order.status})`, currentOf(order));
    const inserted = await insertResolution(tx, { orderId, reviewReason: order.review_reason ?? '', resolvedBy: request.resolvedBy, note: request.note });
    await clearReviewFlag(tx, orderId);
    return { row: inserted!, created: true };
  });
  const saga = await releaseSaga(deps.client, orderId, resolutionView(row));
  return { orderId, reviewReason: row.review_reason, ...resolutionView(row), created, saga };
}

async function releaseSaga(client: Client, orderId: string, resolution: ReviewResolution): Promise<'released' | 'closed'> {
  const handle = client.workflow.getHandle(workflowIdFor(orderId));
  const until = Date.now() + RELEASE_DEADLINE_MS;
  for (;;) {
    try {
      await client.withDeadline(until, () => handle.executeUpdate(resolveUpdate, { args: [resolution], updateId: 'resolve' }));
      return 'released';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError || isWorkflowClosed(err)) return 'closed';
      const refusal = refusalOf(err);
      // Flagged in PostgreSQL a moment before the saga reaches its wait: ask again while the deadline lasts.
      if (refusal === OperatorRefusal.NotAwaitingReview && Date.now() + RELEASE_RETRY_MS < until) {
        await sleep(RELEASE_RETRY_MS);
        continue;
      }
      if (refusal === OperatorRefusal.NotAwaitingReview || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isTemporalUnavailable(err)) {
        throw new TemporalUnavailableError(
          `order ${orderId}: the resolution is stored and the flag cleared, but the saga has not been released yet; retry the same request`,
        );
      }
      throw err;
    }
  }
}

/** Asked for and accepted, but the check had not answered within the wait: the saga goes on with it. */
export interface CheckBackPending {
  orderId: string;
  state: 'checking';
}

/**
 * Ends a step's wait between check-backs (or joins the check-back already running): the saga checks back at
 * once, and this answers what it found, or `checking` when that takes longer than `waitMs`.
 */
export async function checkBackNow(
  deps: { client: Client; pool: Pool },
  orderId: string,
  { waitMs = CHECK_BACK_WAIT_MS }: { waitMs?: number } = {},
): Promise<CheckBackOutcome | CheckBackPending> {
  const { client } = deps;
  const handle = client.workflow.getHandle(workflowIdFor(orderId));
  try {
    const accepted = await client.withDeadline(Date.now() + CHECK_BACK_ACCEPT_MS, () =>
      handle.startUpdate(checkBackNowUpdate, { args: [], waitForStage: WorkflowUpdateStage.ACCEPTED }),
    );
    try {
      return await client.withDeadline(Date.now() + waitMs, () => accepted.result());
    } catch (err) {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isTemporalUnavailable(err)) return { orderId, state: 'checking' };
      throw err;
    }
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || isWorkflowClosed(err)) {
      const order = await selectOrder(deps.pool, orderId);
      if (!order) throw new OrderNotFoundError(`no order ${orderId}`);
      throw new ReviewRefusedError('NotCheckingBack', `order ${orderId} has ended (${order.status}); nothing is in doubt`, currentOf(order));
    }
    if (refusalOf(err) === OperatorRefusal.NotCheckingBack) {
      const failure = (err as WorkflowUpdateFailedError).cause as ApplicationFailure;
      throw new ReviewRefusedError('NotCheckingBack', failure.message, (failure.details?.[0] ?? {}) as Record<string, unknown>);
    }
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isTemporalUnavailable(err)) {
      throw new TemporalUnavailableError(`order ${orderId}: Temporal did not take the check-back request in time; retry`);
    }
    throw err;
  }
}

const currentOf = (order: OrderRow) => ({ status: order.status, needsReview: order.needs_review, reviewReason: order.review_reason });

function refusalOf(err: unknown): string | undefined {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) return err.cause.type ?? undefined;
  return undefined;
}
