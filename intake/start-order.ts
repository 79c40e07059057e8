import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  deleteUnstartedMessage,
  insertProcessedMessage,
  selectProcessedMessage,
  selectStartedMessage,
  takeOverStaleClaim,
  upsertProcessedRunId,
  type StartedMessageRow,
} from '../db/processed-messages';
import type { Pool } from '../db/pool';
import type { Admission } from './admission';
import { fingerprint, sameContent } from './fingerprint';
import { isTemporalUnavailable, neverReachedTemporal } from '../lib/temporal-errors';
import { workflowIdFor, type OrderStatus } from '../domain/order';
import { toSagaInput, type OrderMessage, type OrderSagaInput } from '../contract/order';
import { CustomerIdKey, NeedsReviewKey, OrderIdKey, OrderStatusKey } from '../contract/search-attributes';
import { orderSaga } from '../workflows/order-saga';
import { orderDetails, orderSummary } from '../domain/order-summary';
import { startOnce, type EagerStart } from './start-workflow';

const START_DEADLINE_MS = 5_000;
const LOOKUP_DEADLINE_MS = 2_000;
/** A claim's owner answers within its start and lookup deadlines; an unresolved claim older than this was given up. */
const CLAIM_LEASE_MS = START_DEADLINE_MS + LOOKUP_DEADLINE_MS + 1_000;
const CLAIM_POLL_MS = 25;

export interface StartResult {
  orderId: string;
  workflowId: string;
  runId: string;
  duplicate: boolean;
  /** The order's status, when a copy found its saga had written it. */
  status?: OrderStatus;
  /** Why it was cancelled, when a copy found it so. */
  reason?: string;
  needsReview?: boolean;
}

/** Same message ID, different content: the producer has a bug; refuse rather than guess. */
export class MessageConflictError extends Error {
  override name = 'MessageConflictError';
}

/** Temporal did not acknowledge the start: nothing was started or recorded; retry later. */
export class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

/**
 * The one function both producers call. The workflow start is the only write that matters; the
 * processed_messages row makes duplicates collapse even after Temporal's retention has passed, and
 * turns the same ID with other content into a conflict. No database connection is held while Temporal
 * answers: the claim commits first, and copies that find it unresolved start too, which collapses.
 */
export async function startOrder(
  deps: { client: Client; pool: Pool; taskQueue: string; admission?: Admission } & EagerStart,
  request: OrderMessage,
  source: 'rest' | 'kafka',
): Promise<StartResult> {
  const claimRow = { messageId: request.messageId, workflowId: workflowIdFor(request.messageId), source, fingerprint: fingerprint(request) };
  const result = (runId: string, duplicate: boolean): StartResult => ({ orderId: request.messageId, workflowId: claimRow.workflowId, runId, duplicate });

  // Copies are the common case under retries: answered in one round trip, and even while new orders are turned away.
  const started = await selectStartedMessage(deps.pool, request.messageId);
  if (started && sameContent(started.fingerprint, request)) return { ...result(started.run_id, true), ...endStateOf(started) };
  deps.admission?.admit();

  const claimed = await claim(deps, claimRow, request);
  if ('runId' in claimed) return result(claimed.runId, true);
  // The claim row's own fingerprint: a row stored before fingerprints were versioned keeps its hash.
  const owned = { ...claimRow, fingerprint: claimed.fingerprint };
  const runId = await startOrLearn(deps, claimRow.workflowId, toSagaInput(request)).catch(async (err: unknown) => {
    if (err instanceof NotStarted || !(err instanceof TemporalUnavailableError)) await deleteUnstartedMessage(deps.pool, owned);
    throw err instanceof NotStarted ? err.cause : err;
  });
  await upsertProcessedRunId(deps.pool, { ...owned, runId });
  return result(runId, false);
}

function endStateOf(row: StartedMessageRow): Pick<StartResult, 'status' | 'reason' | 'needsReview'> {
  if (!row.status) return {};
  return {
    status: row.status,
    ...(row.cancel_reason === null ? {} : { reason: row.cancel_reason }),
    ...(row.needs_review === null ? {} : { needsReview: row.needs_review }),
  };
}

/**
 * Claims the message ID for this content. Resolves with the claim's fingerprint when this call owns it (new,
 * or taken over from a start that gave up), or with the run of an earlier copy. A copy that finds a fresh
 * claim waits for it to resolve, so exactly one copy answers "accepted" and the others "duplicate".
 */
async function claim(
  { pool, client }: { pool: Pool; client: Client },
  row: Parameters<typeof insertProcessedMessage>[1],
  request: OrderMessage,
): Promise<{ fingerprint: string } | { runId: string }> {
  const waitUntil = Date.now() + CLAIM_LEASE_MS + LOOKUP_DEADLINE_MS;
  for (;;) {
    if (await insertProcessedMessage(pool, row)) return { fingerprint: row.fingerprint };
    const existing = await selectProcessedMessage(pool, row.messageId);
    if (existing && !sameContent(existing.fingerprint, request)) {
      // Other content under a claim that a 503 left unresolved: free the ID if Temporal never got that start.
      if (existing.run_id || existing.claim_age_ms < CLAIM_LEASE_MS || !(await neverStarted(client, row.workflowId))) {
        throw new MessageConflictError(`message ${row.messageId} was already accepted with different content`);
      }
      await deleteUnstartedMessage(pool, { messageId: row.messageId, fingerprint: existing.fingerprint });
      continue;
    }
    if (existing?.run_id) return { runId: existing.run_id };
    if (existing && (await takeOverStaleClaim(pool, { ...row, fingerprint: existing.fingerprint, staleMs: CLAIM_LEASE_MS }))) {
      return { fingerprint: existing.fingerprint };
    }
    if (Date.now() > waitUntil) throw new TemporalUnavailableError(`message ${row.messageId}: an earlier copy is still starting; retry`);
    await sleep(CLAIM_POLL_MS);
  }
}

/** True only when Temporal says the workflow does not exist; unreachable stays a 503. */
async function neverStarted(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.withDeadline(Date.now() + LOOKUP_DEADLINE_MS, () => client.workflow.getHandle(workflowId).describe());
    return false;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    if (isTemporalUnavailable(err)) throw new TemporalUnavailableError(`Temporal unavailable: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
}

/** Wraps an unavailability after which the workflow is known not to exist. */
class NotStarted extends Error {}

/**
 * Starts the workflow; when Temporal does not answer in time, asks it whether the start happened before
 * giving up, so a start that was accepted late is still reported as accepted.
 */
async function startOrLearn(deps: { client: Client; taskQueue: string } & EagerStart, workflowId: string, input: OrderSagaInput): Promise<string> {
  const { client } = deps;
  try {
    return await startWorkflow(deps, workflowId, input);
  } catch (err) {
    if (!isTemporalUnavailable(err)) throw err;
    const unavailable = new TemporalUnavailableError(`Temporal unavailable: ${err instanceof Error ? err.message : String(err)}`);
    if (neverReachedTemporal(err)) throw new NotStarted('never sent', { cause: unavailable });
    const runId = await client
      .withDeadline(Date.now() + LOOKUP_DEADLINE_MS, () => client.workflow.getHandle(workflowId).describe())
      .then((d) => d.runId)
      .catch((lookupErr: unknown) => (lookupErr instanceof WorkflowNotFoundError ? null : undefined));
    if (runId) return runId;
    throw runId === null ? new NotStarted('not found', { cause: unavailable }) : unavailable;
  }
}

function startWorkflow(
  { client, taskQueue, ...eager }: { client: Client; taskQueue: string } & EagerStart,
  workflowId: string,
  input: OrderSagaInput,
): Promise<string> {
  return startOnce(
    client,
    orderSaga,
    {
      taskQueue,
      workflowId,
      args: [input],
      staticSummary: orderSummary(input),
      staticDetails: orderDetails(input),
      // Visible in the UI from the start, and the saga need not write them again.
      typedSearchAttributes: [
        { key: OrderIdKey, value: input.messageId },
        { key: CustomerIdKey, value: input.customerId },
        { key: OrderStatusKey, value: 'RUNNING' },
        { key: NeedsReviewKey, value: false },
      ],
    },
    { startMs: START_DEADLINE_MS, lookupMs: LOOKUP_DEADLINE_MS },
    eager,
  );
}
