import type { Client } from '@temporalio/client';
import type { OrderStatus } from '../domain/order';
import type { orderSaga } from '../workflows/order-saga';

export interface OrderOutcome {
  status: Exclude<OrderStatus, 'PENDING'>;
  reason?: string;
  needsReview: boolean;
}

/**
 * Waits up to `waitMs` for the order's saga to end and answers how it ended; undefined when it is still running
 * then, or when Temporal cannot say. The start is durable already, so the wait only decides what the caller hears now.
 */
export async function awaitOrderOutcome(
  client: Client,
  { workflowId, runId }: { workflowId: string; runId: string },
  waitMs: number,
): Promise<OrderOutcome | undefined> {
  const handle = client.workflow.getHandle<typeof orderSaga>(workflowId, runId, { followRuns: false });
  try {
    // A deadline, not an abort signal: the SDK's retries of an unreachable server stop at a deadline only.
    const result = await client.withDeadline(Date.now() + waitMs, () => handle.result());
    if (result.state !== 'CONFIRMED' && result.state !== 'CANCELLED') return undefined;
    return { status: result.state, ...(result.reason === undefined ? {} : { reason: result.reason }), needsReview: result.needsReview };
  } catch {
    // Timed out, unreachable, or failed or terminated by hand: the order's state is not this saga's to report.
    return undefined;
  }
}
