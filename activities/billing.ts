import { withTransaction } from '../db/pool';
import { insertStep, selectStepForUpdate, updateStepState } from '../db/steps';
import { BusinessError } from '../domain/errors';
import { applyBalanceChange, ledgerKeys } from './balance';
import type { ActivityDeps } from './deps';
import { businessFailure } from './failures';
import { retryOnConflict } from './optimistic-retry';
import type { CompensationOutcome, StepOutcome } from './stock';

export function createBillingActivities({ pool, logger }: ActivityDeps) {
  /** The versioned debit, its ledger row and the step record commit together or not at all (C3, C8). */
  async function debitAccount({ orderId, accountId, amountCents }: { orderId: string; accountId: string; amountCents: number }): Promise<StepOutcome> {
    if (!Number.isSafeInteger(amountCents) || amountCents < 0) {
      throw businessFailure(BusinessError.InvalidOrder, `debit amount must be whole cents >= 0, got ${amountCents}`);
    }
    return retryOnConflict(() =>
      withTransaction(pool, async (tx) => {
        const step = await selectStepForUpdate(tx, orderId, 'debit');
        if (step?.state === 'applied') return 'already-applied';
        if (step) throw businessFailure(BusinessError.StepFenced, `debit for ${orderId} was already rolled back`);
        if (amountCents > 0) {
          await applyBalanceChange(tx, { accountId, orderId, kind: 'debit', amountCents: -amountCents, idempotencyKey: ledgerKeys.debit(orderId) });
        }
        await insertStep(tx, { orderId, step: 'debit', state: 'applied', detail: { accountId, amountCents } });
        return 'applied';
      }),
    );
  }

  async function refundDebit({ orderId }: { orderId: string }): Promise<CompensationOutcome> {
    const outcome = await retryOnConflict(() =>
      withTransaction(pool, async (tx): Promise<CompensationOutcome> => {
        const step = await selectStepForUpdate(tx, orderId, 'debit');
        if (!step) {
          await insertStep(tx, { orderId, step: 'debit', state: 'fenced' });
          return 'fenced';
        }
        if (step.state !== 'applied') return step.state === 'fenced' ? 'already-fenced' : 'already-compensated';
        const { accountId, amountCents } = step.detail as { accountId: string; amountCents: number };
        if (amountCents > 0) {
          await applyBalanceChange(tx, { accountId, orderId, kind: 'refund', amountCents, idempotencyKey: ledgerKeys.refund(orderId) });
        }
        await updateStepState(tx, { orderId, step: 'debit', state: 'compensated' });
        return 'compensated';
      }),
    );
    logger.info({ orderId, outcome }, 'refundDebit');
    return outcome;
  }

  return { debitAccount, refundDebit };
}
