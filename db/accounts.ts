import type { Queryable } from './pool';

export interface AccountRow {
  id: string;
  balance_cents: number;
  opening_balance_cents: number;
  version: number;
}

export async function insertAccount(db: Queryable, a: { id: string; openingBalanceCents: number }): Promise<boolean> {
  const { rowCount } = await db.query(`insert into accounts (id, opening_balance_cents, balance_cents) values ($1, $2, $2) on conflict (id) do nothing`, [
    a.id,
    a.openingBalanceCents,
  ]);
  return rowCount === 1;
}

export async function selectAccount(db: Queryable, id: string): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>('select id, balance_cents, opening_balance_cents, version from accounts where id = $1', [id]);
  return rows[0];
}

/** Optimistic lock: applies only if nobody changed the row since `version` was read. */
export async function updateBalanceIfVersion(db: Queryable, u: { id: string; version: number; newBalanceCents: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `update accounts set balance_cents = $3, version = version + 1, updated_at = now()
      where id = $1 and version = $2`,
    [u.id, u.version, u.newBalanceCents],
  );
  return rowCount === 1;
}
