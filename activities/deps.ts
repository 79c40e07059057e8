import type { Pool } from '../db/pool';
import type { Log } from '../lib/logger';

export interface ActivityDeps {
  pool: Pool;
  /** @deprecated Ignored: activities log through `log` from @temporalio/activity. */
  logger?: Log;
  /** Cashback on confirmed orders, in basis points of the total (100 = 1%). */
  rewardBasisPoints?: number;
}
