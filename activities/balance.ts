import { selectAccount, updateBalanceIfVersion } from '../db/accounts';
import { insertLedgerEntry, selectLedgerEntryByKey, type LedgerKind } from '../db/ledger';
import type { Queryable } from '../db/pool';
import { BusinessError } from '../domain/errors';
import { businessFailure } from './failures';
import { LostRace } from './optimistic-retry';

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
  if (existing) return { applied: false, balanceAfterCents: existing.balance_after_cents };
  const account = await selectAccount(tx, change.accountId);
  if (!account) throw businessFailure(BusinessError.UnknownAccount, `unknown account ${change.accountId}`, { accountId: change.accountId });
  const newBalanceCents = account.balance_cents + change.amountCents;
  if (newBalanceCents < 0) {
    throw businessFailure(BusinessError.InsufficientFunds, `account ${change.accountId} has ${account.balance_cents} cents, needs ${-change.amountCents}`, {
      accountId: change.accountId,
      balanceCents: account.balance_cents,
      requiredCents: -change.amountCents,
    });
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

export const ledgerKeys = {
  debit: (orderId: string) => `order:${orderId}:debit`,
  refund: (orderId: string) => `order:${orderId}:refund`,
  reward: (orderId: string) => `order:${orderId}:reward`,
  credit: (requestKey: string) => `credit:${requestKey}`,
};
