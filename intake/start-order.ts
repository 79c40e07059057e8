import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { insertProcessedMessage, selectProcessedMessage, updateProcessedRunId } from '../db/processed-messages';
import { withTransaction, type Pool } from '../db/pool';
import { workflowIdFor } from '../domain/order';
import type { OrderSagaInput } from '../workflows/definitions';

const START_DEADLINE_MS = 5_000;

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

/** gRPC UNAVAILABLE (14) or DEADLINE_EXCEEDED (4): Temporal did not answer; anything else is a real refusal. */
function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (code === 14 || code === 4) return true;
    if (/\b(UNAVAILABLE|DEADLINE_EXCEEDED|ECONNREFUSED)\b|deadline exceeded/i.test(e.message)) return true;
  }
  return false;
}

/**
 * The one function both producers call. The workflow start is the only write that matters; the
 * processed_messages row makes duplicates collapse even after Temporal's retention has passed.
 */
export async function startOrder(
  deps: { client: Client; pool: Pool; taskQueue: string },
  request: OrderRequest,
  source: 'rest' | 'kafka',
): Promise<StartResult> {
  const workflowId = workflowIdFor(request.messageId);
  const print = fingerprint(request);
  const duplicateOf = (row: { fingerprint: string; workflow_id: string; run_id: string | null }): StartResult => {
    if (row.fingerprint !== print) throw new MessageConflictError(`message ${request.messageId} was already accepted with different content`);
    return { orderId: request.messageId, workflowId: row.workflow_id, runId: row.run_id ?? '', duplicate: true };
  };
  const known = await selectProcessedMessage(deps.pool, request.messageId);
  if (known) return duplicateOf(known);

  const input: OrderSagaInput = {
    messageId: request.messageId,
    customerId: request.customerId,
    items: request.items,
    confirmation: request.confirmation,
    // The schema admits only forms like '10 minutes'; lint cannot resolve the SDK's Duration template type.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment
    confirmWithin: request.confirmWithin as OrderSagaInput['confirmWithin'],
  };
  // The row is written in the transaction that holds it while the workflow starts: a competing copy
  // waits, then sees the winner; a failed start rolls back, leaving no trace.
  return withTransaction(deps.pool, async (tx) => {
    if (!(await insertProcessedMessage(tx, { messageId: request.messageId, workflowId, source, fingerprint: print }))) {
      return duplicateOf((await selectProcessedMessage(tx, request.messageId))!);
    }
    const runId = await startWorkflow(deps, workflowId, input);
    await updateProcessedRunId(tx, { messageId: request.messageId, runId });
    return { orderId: request.messageId, workflowId, runId, duplicate: false };
  });
}

async function startWorkflow(deps: { client: Client; taskQueue: string }, workflowId: string, input: OrderSagaInput): Promise<string> {
  try {
    // Bounded, so an outage answers 503 in seconds rather than after the SDK's long retry schedule.
    const handle = await deps.client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      deps.client.workflow.start('orderSaga', {
        taskQueue: deps.taskQueue,
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
      return (await deps.client.workflow.getHandle(workflowId).describe()).runId;
    }
    if (isUnavailable(err)) throw new TemporalUnavailableError(`Temporal unavailable: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  }
}
