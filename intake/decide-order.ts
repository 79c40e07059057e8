import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  WorkflowUpdateStage,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { decideUpdate, DecisionRefusal, wakeSignal, type DecisionOutcome, type SagaState } from '../contract/saga';
import { selectOrder } from '../db/orders';
import type { Pool } from '../db/pool';
import { workflowIdFor, type ConfirmationDecision, type OrderStatus } from '../domain/order';
import { isTemporalUnavailable } from '../lib/temporal-errors';
import { TemporalUnavailableError } from './start-order';

/** How long the saga may take to accept a decision (a worker must run its validator). */
const ACCEPT_DEADLINE_MS = 5_000;
/** How long an accepted decision is waited on for its outcome before answering "accepted". */
const OUTCOME_DEADLINE_MS = 10_000;
const WAKE_POLL_MS = 250;
/** Long enough for an outcome the server already sent to be decoded; no round trip happens in it. */
const KNOWN_OUTCOME_MS = 50;

export interface DecisionResult {
  orderId: string;
  decision: ConfirmationDecision;
  /** PENDING: accepted, and the saga is still committing or compensating. */
  status: OrderStatus;
  reason?: string;
}

export class OrderNotFoundError extends Error {
  override name = 'OrderNotFoundError';
}

/** The saga refused the decision: it is not waiting for one, or the other decision came first. */
export class DecisionRefusedError extends Error {
  override name = 'DecisionRefusedError';
  constructor(
    readonly code: 'NotAwaitingDecision' | 'DecisionConflict' | 'OrderClosed' | 'InvalidDecision',
    message: string,
    readonly current: { status?: OrderStatus; state?: SagaState; currentStep?: string; decision?: ConfirmationDecision | null },
  ) {
    super(message);
  }
}

const statusOf = (state: SagaState): OrderStatus => (state === 'CONFIRMED' || state === 'CANCELLED' ? state : 'PENDING');
const settledBy = (decision: ConfirmationDecision): OrderStatus => (decision === 'confirm' ? 'CONFIRMED' : 'CANCELLED');

/**
 * Confirms or cancels a manual order through the saga's decide update. Nothing is stored unless the saga
 * accepts: the saga stores the decision itself, and the first one wins. The same decision again gets the
 * same answer (one update ID per decision). `wait: false` answers once the saga accepted.
 */
export async function decideOrder(
  deps: { client: Client; pool: Pool },
  request: { orderId: string; decision: ConfirmationDecision; reason?: string; wait?: boolean },
): Promise<DecisionResult> {
  const { client } = deps;
  const { orderId, decision } = request;
  const handle = client.workflow.getHandle(workflowIdFor(orderId));
  const acceptBy = Date.now() + ACCEPT_DEADLINE_MS;
  const send = () =>
    client.withDeadline(acceptBy, () =>
      handle.startUpdate(decideUpdate, {
        args: [{ decision, ...(request.reason === undefined ? {} : { reason: request.reason }) }],
        updateId: `decide-${decision}`,
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      }),
    );
  let accepted;
  try {
    accepted = await send().catch(async (err: unknown) => {
      if (!isTaskFailing(err)) throw err;
      // Wake the saga so a worker completes a task, then ask again while the deadline lasts.
      await client.withDeadline(acceptBy, () => handle.signal(wakeSignal));
      for (;;) {
        await sleep(WAKE_POLL_MS);
        try {
          return await send();
        } catch (again) {
          if (!isTaskFailing(again) || Date.now() + WAKE_POLL_MS > acceptBy) throw again;
        }
      }
    });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || isWorkflowClosed(err)) return answerFromDatabase(deps.pool, request);
    throw mapUpdateError(err, orderId);
  }
  let outcome: DecisionOutcome | undefined;
  try {
    // A refusal comes back with the start, as a known outcome that result() hands over at once.
    outcome = await client.withDeadline(Date.now() + (request.wait === false ? KNOWN_OUTCOME_MS : OUTCOME_DEADLINE_MS), () =>
      request.wait === false ? settledWithin(accepted.result(), KNOWN_OUTCOME_MS) : accepted.result(),
    );
  } catch (err) {
    // Accepted and durable: the saga goes on without us; say so rather than fail.
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isTemporalUnavailable(err)) return { orderId, decision, status: 'PENDING' };
    throw mapUpdateError(err, orderId);
  }
  if (!outcome) return { orderId, decision, status: 'PENDING' };
  const status = statusOf(outcome.state);
  if (status !== 'PENDING' && status !== settledBy(decision)) {
    throw new DecisionRefusedError('OrderClosed', `order ${orderId} ended ${status}${outcome.reason ? `: ${outcome.reason}` : ''}`, {
      status,
      state: outcome.state,
    });
  }
  return { orderId, decision, status, ...(outcome.reason ? { reason: outcome.reason } : {}) };
}

/**
 * The saga has ended (or its history is gone): the order row says how. As in the saga's validator, a manual
 * order answers the decision that stands (asked for, or taken by the window's expiry) with its outcome.
 */
async function answerFromDatabase(pool: Pool, { orderId, decision }: { orderId: string; decision: ConfirmationDecision }): Promise<DecisionResult> {
  const row = await selectOrder(pool, orderId);
  if (!row) throw new OrderNotFoundError(`no order ${orderId}`);
  const current = { status: row.status, state: row.status as SagaState, decision: row.confirmation_decision };
  if (row.confirmation !== 'manual') throw new DecisionRefusedError('NotAwaitingDecision', `order ${orderId} confirms automatically`, current);
  if (row.status === settledBy(decision) && row.confirmation_decision === decision) {
    return { orderId, decision, status: row.status, ...(row.cancel_reason ? { reason: row.cancel_reason } : {}) };
  }
  throw new DecisionRefusedError('OrderClosed', `order ${orderId} is already ${row.status}`, current);
}

function mapUpdateError(err: unknown, orderId: string): unknown {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const failure = err.cause;
    const current = (failure.details?.[0] ?? {}) as { state?: SagaState; currentStep?: string; decision?: ConfirmationDecision | null };
    const code = Object.values(DecisionRefusal).find((type) => type === failure.type);
    if (code) return new DecisionRefusedError(code, failure.message, { ...current, ...(current.state ? { status: statusOf(current.state) } : {}) });
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isTemporalUnavailable(err) || isTaskFailing(err)) {
    return new TemporalUnavailableError(
      `order ${orderId}: the saga has not taken the decision yet and may still take it; retry the same request to learn the outcome`,
    );
  }
  return err;
}

/** FAILED_PRECONDITION "Workflow Task in failed state": Temporal takes no update until a task of the saga completes. */
function isTaskFailing(err: unknown): boolean {
  return err instanceof Error && /workflow task in failed state/i.test(`${err.message} ${err.cause instanceof Error ? err.cause.message : ''}`);
}

/** Temporal refuses updates to a closed workflow with a FAILED_PRECONDITION-like "already completed". */
export function isWorkflowClosed(err: unknown): boolean {
  return err instanceof Error && /workflow execution already completed/i.test(err.message);
}

/** The promise's value if it settles within `ms`, else undefined; its rejection passes through. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
    promise.catch(() => undefined);
  }
}
