import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../stack/servers';
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

    const dirty = await saga(['reconcile', '--json'], env);
    expect(dirty.code).toBe(1);
    const report = JSON.parse(dirty.stdout) as { ok: boolean; checks: { name: string; violations: Record<string, unknown>[] }[] };
    expect(report.ok).toBe(false);
    const failing = Object.fromEntries(report.checks.filter((c) => c.violations.length).map((c) => [c.name, c.violations]));
    expect(Object.keys(failing).sort()).toEqual(['balances', 'events', 'lost', 'stock', 'stranded']);
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
