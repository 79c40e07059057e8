import type { Queryable } from './pool';

export type LedgerKind = 'debit' | 'refund' | 'reward' | 'credit';

export interface LedgerEntry {
  idempotencyKey: string;
  accountId: string;
  orderId: string | null;
  kind: LedgerKind;
  amountCents: number;
  balanceAfterCents: number;
  accountVersion: number;
}

export interface LedgerRow {
  id: number;
  idempotency_key: string;
  account_id: string;
  order_id: string | null;
  kind: LedgerKind;
  amount_cents: number;
  balance_after_cents: number;
  created_at: Date;
}

export async function insertLedgerEntry(db: Queryable, e: LedgerEntry): Promise<void> {
  await db.query(
    `insert into ledger (idempotency_key, account_id, order_id, kind, amount_cents, balance_after_cents, account_version)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [e.idempotencyKey, e.accountId, e.orderId, e.kind, e.amountCents, e.balanceAfterCents, e.accountVersion],
  );
}

export async function selectLedgerEntryByKey(db: Queryable, key: string): Promise<LedgerRow | undefined> {
  const { rows } = await db.query<LedgerRow>(
    `select id, idempotency_key, account_id, order_id, kind, amount_cents, balance_after_cents, created_at
       from ledger where idempotency_key = $1`,
    [key],
  );
  return rows[0];
}

export async function selectRecentLedgerEntries(db: Queryable, accountId: string, limit: number): Promise<LedgerRow[]> {
  const { rows } = await db.query<LedgerRow>(
    `select id, idempotency_key, account_id, order_id, kind, amount_cents, balance_after_cents, created_at
       from ledger where account_id = $1 order by id desc limit $2`,
    [accountId, limit],
  );
  return rows;
}
