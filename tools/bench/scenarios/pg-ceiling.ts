/**
 * Reference (c): PostgreSQL's own ceiling for the billing write. N connections, each in a loop:
 * BEGIN; versioned UPDATE of one account; INSERT of its ledger row; COMMIT, spread over 16 accounts per
 * connection. Each connection owns its accounts, so it knows their version without reading it: no
 * lost races, no reads, nothing but the two statements and the commit (fsync on, as the stack runs it).
 */
import type { Pool } from '../../../db/pool';
import { summarize, type LatencySummary } from '../lib/stats';

const ACCOUNTS_PER_CONNECTION = 16;
const OPENING_CENTS = 1_000_000_000_000;

export interface CeilingResult {
  txPerSec: number;
  transactions: number;
  seconds: number;
  latency: LatencySummary;
}

export async function pgCeiling(pool: Pool, run: string, connections: number, seconds: number): Promise<CeilingResult> {
  const ids = (c: number) => Array.from({ length: ACCOUNTS_PER_CONNECTION }, (_, k) => `${run}-pg-${c}-${k}`);
  for (let c = 0; c < connections; c++) {
    await pool.query(`insert into accounts (id, opening_balance_cents, balance_cents) select unnest($1::text[]), $2, $2`, [ids(c), OPENING_CENTS]);
  }
  const latencies: number[] = [];
  const start = performance.now();
  const stopAt = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const client = await pool.connect();
      const accounts = ids(c).map((id) => ({ id, version: 0, balance: OPENING_CENTS }));
      try {
        for (let i = 0; performance.now() < stopAt; i++) {
          const account = accounts[i % accounts.length]!;
          const t0 = performance.now();
          await client.query('begin');
          const updated = await client.query(
            'update accounts set balance_cents = $3, version = version + 1, updated_at = now() where id = $1 and version = $2',
            [account.id, account.version, account.balance - 999],
          );
          if (updated.rowCount !== 1) throw new Error(`ceiling: ${account.id} lost a race it cannot lose`);
          await client.query(
            `insert into ledger (idempotency_key, account_id, order_id, kind, amount_cents, balance_after_cents, account_version)
             values ($1, $2, null, 'debit', -999, $3, $4)`,
            [`${run}:pg:${c}:${i}`, account.id, account.balance - 999, account.version + 1],
          );
          await client.query('commit');
          account.version++;
          account.balance -= 999;
          latencies.push(performance.now() - t0);
        }
      } finally {
        client.release();
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  return {
    txPerSec: Math.round((latencies.length / elapsed) * 10) / 10,
    transactions: latencies.length,
    seconds: Math.round(elapsed * 100) / 100,
    latency: summarize(latencies),
  };
}
