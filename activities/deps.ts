import type { Pool } from '../db/pool';

/** Activities log through `log` from @temporalio/activity, so each line carries its workflow and activity. */
export interface ActivityDeps {
  pool: Pool;
  /** Cashback on confirmed orders, in basis points of the total (100 = 1%). */
  rewardBasisPoints?: number;
}
