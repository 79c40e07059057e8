import type { Client } from '@temporalio/client';
import { withTransaction, type Pool } from '../db/pool';
import { lockUnstartedRefunds, markRefundStarted } from '../db/refunds';
import { refundSagaInputOf, START_LEASE_SECONDS, startRefundSaga } from './start-refund';

export interface RestartedRefunds {
  started: string[];
  /** Why the sweep stopped early (Temporal unreachable): the rest wait for the next one. */
  error?: unknown;
}

/**
 * Starts the stored refunds whose start never came back (a 503, or the process died between the row and the
 * start), oldest first. The row is the request: its saga starts as the request would have started it, and a
 * start that did reach Temporal collapses onto its run. Several sweeps may run; each locks what it takes.
 */
export async function restartUnstartedRefunds(deps: { client: Client; pool: Pool; taskQueue: string }, limit = 20): Promise<RestartedRefunds> {
  return withTransaction(deps.pool, async (tx) => {
    const started: string[] = [];
    for (const refund of await lockUnstartedRefunds(tx, START_LEASE_SECONDS, limit)) {
      let runId: string;
      try {
        runId = await startRefundSaga(deps, refundSagaInputOf(refund));
      } catch (error) {
        return { started, error };
      }
      await markRefundStarted(tx, { id: refund.id, runId });
      started.push(refund.id);
    }
    return { started };
  });
}
