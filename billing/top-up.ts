import { retryOnConflict } from '../db/optimistic-retry';
import { withTransaction, type Pool } from '../db/pool';
import { applyBalanceChange, ledgerKeys, type BalanceChangeResult } from './balance';

/**
 * A customer's top-up, applied once per request key. Throws BusinessRuleError (UnknownAccount,
 * IdempotencyKeyConflict, BalanceLimitExceeded) or ContentionError; callers map them to their answers.
 */
export function topUp(
  pool: Pool,
  { accountId, amountCents, requestKey }: { accountId: string; amountCents: number; requestKey: string },
): Promise<BalanceChangeResult> {
  return retryOnConflict(() =>
    withTransaction(pool, (tx) =>
      applyBalanceChange(tx, { accountId, orderId: null, kind: 'credit', amountCents, idempotencyKey: ledgerKeys.credit(accountId, requestKey) }),
    ),
  );
}
