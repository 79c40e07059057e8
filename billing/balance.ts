import { selectAccount, updateBalanceIfVersion } from '../db/accounts';
import { insertLedgerEntry, selectLedgerEntryByKey, type LedgerKind } from '../db/ledger';
import { LostRace } from '../db/optimistic-retry';
import type { Queryable } from '../db/pool';
import { BusinessError, BusinessRuleError } from '../domain/errors';
import { Limits } from '../domain/limits';

export interface BalanceChange {
  accountId: string;
  orderId: string | null;
  kind: LedgerKind;
  /** Signed cents: negative takes money out. */
  amountCents: number;
  idempotencyKey: string;
}

export interface BalanceChangeResult {
  applied: boolean;
  balanceAfterCents: number;
}

/**
 * One versioned billing update plus its ledger row, inside the caller's transaction. The ledger's
 * unique key makes a second application with the same key a no-op; a lost race throws LostRace.
 */
export async function applyBalanceChange(tx: Queryable, change: BalanceChange): Promise<BalanceChangeResult> {
  const existing = await selectLedgerEntryByKey(tx, change.idempotencyKey);
  if (existing) {
    // A key proves a repeat only if it repeats the same change; anything else must not pass as a duplicate.
    if (existing.account_id !== change.accountId || existing.kind !== change.kind || existing.amount_cents !== change.amountCents) {
      throw new BusinessRuleError(
        BusinessError.IdempotencyKeyConflict,
        `idempotency key ${change.idempotencyKey} was already used for another ${existing.kind}`,
        {
          idempotencyKey: change.idempotencyKey,
        },
      );
    }
    return { applied: false, balanceAfterCents: existing.balance_after_cents };
  }
  const account = await selectAccount(tx, change.accountId);
  if (!account) throw new BusinessRuleError(BusinessError.UnknownAccount, `unknown account ${change.accountId}`, { accountId: change.accountId });
  const newBalanceCents = account.balance_cents + change.amountCents;
  if (newBalanceCents < 0) {
    throw new BusinessRuleError(
      BusinessError.InsufficientFunds,
      `account ${change.accountId} has ${account.balance_cents} cents, needs ${-change.amountCents}`,
      {
        accountId: change.accountId,
        balanceCents: account.balance_cents,
        requiredCents: -change.amountCents,
      },
    );
  }
  // Money the customer adds is bounded; money the service gives back (refund, cashback) never is.
  if (change.kind === 'credit' && newBalanceCents > Limits.maxBalanceCents) {
    throw new BusinessRuleError(
      BusinessError.BalanceLimitExceeded,
      `account ${change.accountId} would hold ${newBalanceCents} cents, above the limit of ${Limits.maxBalanceCents}`,
      {
        accountId: change.accountId,
        balanceCents: account.balance_cents,
        limitCents: Limits.maxBalanceCents,
      },
    );
  }
  if (!(await updateBalanceIfVersion(tx, { id: account.id, version: account.version, newBalanceCents }))) {
    throw new LostRace(change.accountId);
  }
  await insertLedgerEntry(tx, {
    idempotencyKey: change.idempotencyKey,
    accountId: change.accountId,
    orderId: change.orderId,
    kind: change.kind,
    amountCents: change.amountCents,
    balanceAfterCents: newBalanceCents,
    accountVersion: account.version + 1,
  });
  return { applied: true, balanceAfterCents: newBalanceCents };
}

/** Order IDs and account IDs never contain '/', so every key names exactly one account and request. */
export const ledgerKeys = {
  debit: (orderId: string) => `order:${orderId}:debit`,
  refund: (orderId: string) => `order:${orderId}:refund`,
  reward: (orderId: string) => `order:${orderId}:reward`,
  /** A refund's credit and the cashback it takes back, and their reversals should its saga compensate. */
  refundCredit: (refundId: string) => `refund:${refundId}:credit`,
  refundReward: (refundId: string) => `refund:${refundId}:reward`,
  refundCreditReversed: (refundId: string) => `refund:${refundId}:credit-reversed`,
  refundRewardReturned: (refundId: string) => `refund:${refundId}:reward-returned`,
  /** Scoped to the account: two accounts may use the same request key without touching each other. */
  credit: (accountId: string, requestKey: string) => `credit:${accountId}/${requestKey}`,
};
