import { randomUUID } from 'node:crypto';
import { insertAccount } from '../../db/accounts';
import { upsertInventoryAvailable } from '../../db/inventory';
import type { Queryable } from '../../db/pool';

/** Unique names per test, so tests sharing a database never see each other's rows. */
export function uniqueIds(prefix: string) {
  const tag = randomUUID().slice(0, 8);
  return { account: `${prefix}-acct-${tag}`, sku: `${prefix}-sku-${tag}`, message: `${prefix}-msg-${tag}`, tag };
}

export async function seed(db: Queryable, s: { account?: [string, number]; skus?: [string, number][] }): Promise<void> {
  if (s.account) await insertAccount(db, { id: s.account[0], openingBalanceCents: s.account[1] });
  for (const [sku, available] of s.skus ?? []) await upsertInventoryAvailable(db, { sku, available });
}

export async function balanceOf(db: Queryable, accountId: string): Promise<number> {
  const { rows } = await db.query<{ balance_cents: number }>('select balance_cents from accounts where id = $1', [accountId]);
  return rows[0]!.balance_cents;
}

export async function availableOf(db: Queryable, sku: string): Promise<number> {
  const { rows } = await db.query<{ available: number }>('select available from inventory where sku = $1', [sku]);
  return rows[0]!.available;
}

export async function ledgerOf(db: Queryable, accountId: string): Promise<{ kind: string; amount_cents: number; idempotency_key: string }[]> {
  const { rows } = await db.query<{ kind: string; amount_cents: number; idempotency_key: string }>(
    'select kind, amount_cents, idempotency_key from ledger where account_id = $1 order by id',
    [accountId],
  );
  return rows;
}

export async function outboxOf(
  db: Queryable,
  orderId: string,
): Promise<{ event_type: string; payload: Record<string, unknown>; key: string; topic: string }[]> {
  const { rows } = await db.query<{ event_type: string; payload: Record<string, unknown>; key: string; topic: string }>(
    'select event_type, payload, key, topic from outbox where order_id = $1',
    [orderId],
  );
  return rows;
}
