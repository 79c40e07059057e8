import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../tools/stack/servers';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { seed, uniqueIds } from './helpers/seed';

function saga(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'cli/saga.ts'), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run saga -- reconcile, on real PostgreSQL and Temporal', () => {
  let stack: RealStack;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await startRealStack();
    env = { DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.temporal.address, LOG_LEVEL: 'silent' };
  });
  afterAll(async () => stack?.stop());

  it('passes on a consistent database, then names every broken invariant, in text and JSON, and exits 1', async () => {
    const ids = uniqueIds('rec');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    const clean = await saga(['reconcile'], env);
    expect(clean.stdout).toContain('every invariant holds');
    expect(clean.code).toBe(0);

    // Break each invariant the way a bug would: a lost update, an order with no saga, a missing event.
    await stack.db.pool.query('update accounts set balance_cents = balance_cents - 1 where id = $1', [ids.account]);
    await stack.db.pool.query(`insert into orders (id, customer_id, items, total_cents, status, confirmation) values ($1, $2, '[]', 0, 'PENDING', 'auto')`, [
      `stranded-${ids.tag}`,
      ids.account,
    ]);
    await stack.db.pool.query(`insert into orders (id, customer_id, items, total_cents, status, confirmation) values ($1, $2, '[]', 0, 'CONFIRMED', 'auto')`, [
      `silent-${ids.tag}`,
      ids.account,
    ]);
    await stack.db.pool.query('update inventory set provisioned = provisioned + 1 where sku = $1', [ids.sku]);
    await stack.db.pool.query(`insert into processed_messages (message_id, workflow_id, source, fingerprint, run_id) values ($1, $2, 'rest', 'x', 'r')`, [
      `lost-${ids.tag}`,
      `order-lost-${ids.tag}`,
    ]);

    // And a refunded order whose figures no refund explains: refunded cents and cashback taken back with no credit, a restock by
    // no refund's step, a REFUNDED refund with neither its credit row nor its event.
    const refunded = `refunded-${ids.tag}`;
    await stack.db.pool.query(
      `insert into orders (id, customer_id, items, total_cents, status, confirmation, refunded_cents, reward_taken_back_cents, restocked_by)
       values ($1, $2, '[]', 100, 'CONFIRMED', 'auto', 50, 5, 'nobody')`,
      [refunded, ids.account],
    );
    await stack.db.pool.query(
      `insert into outbox (event_id, order_id, topic, key, event_type, payload) values (gen_random_uuid(), $1, 't', $1, 'order.confirmed', '{}')`,
      [refunded],
    );
    await stack.db.pool.query(`insert into refunds (id, order_id, amount_cents, fingerprint, status) values ($1, $2, 50, 'x', 'REFUNDED')`, [
      `ghost-${ids.tag}`,
      refunded,
    ]);

    const dirty = await saga(['reconcile', '--json'], env);
    expect(dirty.code).toBe(1);
    const report = JSON.parse(dirty.stdout) as { ok: boolean; checks: { name: string; violations: Record<string, unknown>[] }[] };
    expect(report.ok).toBe(false);
    const failing = Object.fromEntries(report.checks.filter((c) => c.violations.length).map((c) => [c.name, c.violations]));
    expect(Object.keys(failing).sort()).toEqual([
      'balances',
      'events',
      'lost',
      'refund-cashback',
      'refund-restock',
      'refunded',
      'refunds',
      'stock',
      'stranded',
    ]);
    expect(failing.refunded).toEqual([{ order_id: refunded, refunded_cents: 50, credited_cents: 0 }]);
    expect(failing['refund-cashback']).toEqual([{ order_id: refunded, reward_taken_back_cents: 5, ledger_taken_back_cents: 0, reward_cents: 0 }]);
    expect(failing['refund-restock']).toEqual([{ order_id: refunded, restocked_by: 'nobody', restocked_by_steps: [] }]);
    expect(failing.refunds).toEqual([expect.objectContaining({ refund_id: `ghost-${ids.tag}`, status: 'REFUNDED', credited: false, credits: 0, events: 0 })]);
    expect(failing.balances).toEqual([{ account_id: ids.account, balance_cents: 9_999, expected_cents: 10_000 }]);
    expect(failing.stranded).toEqual([expect.objectContaining({ order_id: `stranded-${ids.tag}` })]);
    expect(failing.lost).toEqual([expect.objectContaining({ message_id: `lost-${ids.tag}` })]);
    expect(failing.events).toEqual([{ order_id: `silent-${ids.tag}`, status: 'CONFIRMED', events: 0 }]);

    const text = await saga(['reconcile', '--no-temporal'], env);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/balance = opening balance \+ ledger\s+1 VIOLATION/);
    expect(text.stdout).toContain('Temporal cross-checks skipped');
  });

  it('a bad flag or command is a clear error with exit code 2', async () => {
    const badLimit = await saga(['reconcile', '--limit', 'lots'], env);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('--limit must be a whole number');
    const unknown = await saga(['reconcile', '--frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/error: .*frobnicate/);
    expect((await saga(['explode'], env)).stderr).toContain('unknown command "explode"');
  });
});
