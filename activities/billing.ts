import { log } from '@temporalio/activity';
import { applyBalanceChange, ledgerKeys } from '../billing/balance';
import { BusinessError, BusinessRuleError } from '../domain/errors';
import type { ActivityDeps } from './deps';
import { applyStepOnce, compensateStepOnce, type CompensationOutcome, type StepOutcome } from './step-fence';

export function createBillingActivities({ pool }: ActivityDeps) {
  /** The versioned debit, its ledger row and the step record commit together or not at all (C3, C8). */
  async function debitAccount({ orderId, accountId, amountCents }: { orderId: string; accountId: string; amountCents: number }): Promise<StepOutcome> {
    if (!Number.isSafeInteger(amountCents) || amountCents < 0) {
      throw new BusinessRuleError(BusinessError.InvalidOrder, `debit amount must be whole cents >= 0, got ${amountCents}`);
    }
    return applyStepOnce(pool, { orderId, step: 'debit', what: 'debit' }, async (tx) => {
      if (amountCents > 0) {
        await applyBalanceChange(tx, { accountId, orderId, kind: 'debit', amountCents: -amountCents, idempotencyKey: ledgerKeys.debit(orderId) });
      }
      return { accountId, amountCents };
    });
  }

  async function refundDebit({ orderId }: { orderId: string }): Promise<CompensationOutcome> {
    const outcome = await compensateStepOnce(pool, { orderId, step: 'debit' }, async (tx, detail) => {
      const { accountId, amountCents } = detail as { accountId: string; amountCents: number };
      if (amountCents > 0) await applyBalanceChange(tx, { accountId, orderId, kind: 'refund', amountCents, idempotencyKey: ledgerKeys.refund(orderId) });
    });
    log.info('refundDebit', { orderId, outcome });
    return outcome;
  }

  return { debitAccount, refundDebit };
}
