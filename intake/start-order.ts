import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { deleteUnstartedMessage, insertProcessedMessage, selectProcessedMessage, upsertProcessedRunId } from '../db/processed-messages';
import type { Pool } from '../db/pool';
import { isTemporalUnavailable, neverReachedTemporal } from '../lib/temporal-errors';
import { workflowIdFor } from '../domain/order';
import type { OrderSagaInput } from '../workflows/definitions';

const START_DEADLINE_MS = 5_000;
const LOOKUP_DEADLINE_MS = 2_000;

export interface OrderRequest {
  messageId: string;
  customerId: string;
  items: { sku: string; quantity: number; unitPriceCents: number }[];
  confirmation?: 'auto' | 'manual';
  confirmWithin?: string;
}

export interface StartResult {
  orderId: string;
  workflowId: string;
  runId: string;
  duplicate: boolean;
}

/** Same message ID, different content: the producer has a bug; refuse rather than guess. */
export class MessageConflictError extends Error {
  override name = 'MessageConflictError';
}

/** Temporal did not acknowledge the start: nothing was started or recorded; retry later. */
export class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

/** A stable hash of what the message asks for (not of how it arrived). */
export function fingerprint(request: OrderRequest): string {
  const canonical = JSON.stringify({
    customerId: request.customerId,
    items: request.items.map((i) => [i.sku, i.quantity, i.unitPriceCents]),
    confirmation: request.confirmation ?? 'auto',
    confirmWithin: request.confirmWithin ?? null,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The one function both producers call. The workflow start is the only write that matters; the
 * processed_messages row makes duplicates collapse even after Temporal's retention has passed, and
 * turns the same ID with other content into a conflict. No database connection is held while Temporal
 * answers: the claim commits first, and copies that find it unresolved start too, which collapses.
 */
export async function startOrder(
  deps: { client: Client; pool: Pool; taskQueue: string },
  request: OrderRequest,
  source: 'rest' | 'kafka',
): Promise<StartResult> {
  const claim = { messageId: request.messageId, workflowId: workflowIdFor(request.messageId), source, fingerprint: fingerprint(request) };
  const result = (runId: string, duplicate: boolean): StartResult => ({ orderId: request.messageId, workflowId: claim.workflowId, runId, duplicate });

  let claimed = false;
  for (let attempt = 1; !claimed; attempt++) {
    claimed = await insertProcessedMessage(deps.pool, claim);
    if (claimed) break;
    const row = await selectProcessedMessage(deps.pool, request.messageId);
    if (!row) {
      if (attempt < 3) continue; // released by a copy whose start failed: claim it again
      throw new TemporalUnavailableError(`message ${request.messageId} is being retried concurrently; retry`);
    }
    if (row.fingerprint !== claim.fingerprint) throw new MessageConflictError(`message ${request.messageId} was already accepted with different content`);
    if (row.run_id) return result(row.run_id, true);
    break; // another copy is starting it, or its outcome is unknown: starting again collapses onto the same workflow
  }

  const runId = await startOrLearn(deps.client, deps.taskQueue, claim.workflowId, sagaInput(request)).catch(async (err: unknown) => {
    if (claimed && (err instanceof NotStarted || !(err instanceof TemporalUnavailableError))) {
      await deleteUnstartedMessage(deps.pool, claim);
    }
    throw err instanceof NotStarted ? err.cause : err;
  });
  await upsertProcessedRunId(deps.pool, { ...claim, runId });
  return result(runId, !claimed);
}

function sagaInput(request: OrderRequest): OrderSagaInput {
  return {
    messageId: request.messageId,
    customerId: request.customerId,
    items: request.items,
    confirmation: request.confirmation,
    // The schema admits only forms like '10 minutes'; lint cannot resolve the SDK's Duration template type.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
    confirmWithin: request.confirmWithin as OrderSagaInput['confirmWithin'],
  };
}

/** Wraps an unavailability after which the workflow is known not to exist. */
class NotStarted extends Error {}

/**
 * Starts the workflow; when Temporal does not answer in time, asks it whether the start happened before
 * giving up, so a start that was accepted late is still reported as accepted.
 */
async function startOrLearn(client: Client, taskQueue: string, workflowId: string, input: OrderSagaInput): Promise<string> {
  try {
    return await startWorkflow(client, taskQueue, workflowId, input);
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

async function startWorkflow(client: Client, taskQueue: string, workflowId: string, input: OrderSagaInput): Promise<string> {
  try {
    // Bounded, so an outage answers 503 in seconds rather than after the SDK's long retry schedule.
    const handle = await client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      client.workflow.start('orderSaga', {
        taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      }),
    );
    return handle.firstExecutionRunId;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      // Closed already, and its processed_messages row was lost: recover the run ID.
      return (await client.withDeadline(Date.now() + LOOKUP_DEADLINE_MS, () => client.workflow.getHandle(workflowId).describe())).runId;
    }
    throw err;
  }
}
