import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listMigrations, migrate } from '../db/migrate';
import { createTestDatabase, type TestDatabase } from './helpers/database';

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterAll(async () => db?.drop());

  it('apply to an empty database, then are a no-op on a second run', async () => {
    const all = await listMigrations();
    expect(all.length).toBeGreaterThan(0);

    const first = await migrate(db.pool);
    expect(first.applied).toHaveLength(all.length);
    const { rows: tables } = await db.pool.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = 'public' order by 1`,
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(['accounts', 'inventory', 'ledger', 'orders', 'outbox', 'processed_messages', 'saga_steps', 'schema_migrations']),
    );

    const second = await migrate(db.pool);
    expect(second.applied).toEqual([]);
    const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from schema_migrations');
    expect(rows[0]!.n).toBe(all.length);
  });

  it('concurrent migrators serialise on the advisory lock', async () => {
    const fresh = await createTestDatabase({ migrated: false });
    try {
      const results = await Promise.all([migrate(fresh.pool), migrate(fresh.pool), migrate(fresh.pool)]);
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, (await listMigrations()).length]);
    } finally {
      await fresh.drop();
    }
  });

  it('enforce the unique ledger key and non-negative balances', async () => {
    await db.pool.query(`insert into accounts (id, opening_balance_cents, balance_cents) values ('m1', 100, 100)`);
    const entry = `insert into ledger (idempotency_key, account_id, kind, amount_cents, balance_after_cents, account_version)
                   values ('k1', 'm1', 'credit', 5, 105, 1)`;
    await db.pool.query(entry);
    await expect(db.pool.query(entry)).rejects.toMatchObject({ code: '23505' });
    await expect(db.pool.query(`update accounts set balance_cents = -1 where id = 'm1'`)).rejects.toMatchObject({ code: '23514' });
  });
});
