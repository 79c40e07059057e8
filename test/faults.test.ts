import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../db/migrate';
import { createPool, type Pool } from '../db/pool';
import { repoRoot, spawnManaged, startPostgres, type ManagedProcess } from '../tools/stack/servers';
import { createDevServer } from './helpers/dev-server';
import { freePort } from './global-setup';
import { assertInvariants } from './helpers/invariants';
import { seed } from './helpers/seed';

type Answer = { status: number; retryAfter: string | null; body: Record<string, unknown> };

/**
 * Process faults on the real stack: the API and a worker run as their own processes (as `npm start` runs
 * them) against a PostgreSQL and a Temporal dev server that this file owns, so it can restart, stop and
 * freeze them without disturbing other test files.
 */
describe('process faults: PostgreSQL restart, Temporal down, a frozen worker, a worker killed mid-refund', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'faults-'));
  chmodSync(dir, 0o755);
  let pgPort: number;
  let postgres: ManagedProcess & { url: string };
  let temporal: Awaited<ReturnType<typeof createDevServer>>;
  let pool: Pool;
  let api: ManagedProcess;
  let worker: ManagedProcess;
  let apiUrl: string;
  const taskQueue = `faults-${randomUUID().slice(0, 8)}`;

  const startPg = () =>
    startPostgres({ pgBin: inject('pgBin'), dataDir: path.join(dir, 'pg'), port: pgPort, database: 'orders', logFile: path.join(dir, 'postgres.log') });

  function app(name: string, entry: string, env: Record<string, string>): ManagedProcess {
    return spawnManaged({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', path.join(repoRoot, entry)],
      env: { ...process.env, LOG_LEVEL: 'warn', DATABASE_URL: postgres.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: taskQueue, ...env },
      logFile: path.join(dir, `${name}.log`),
    });
  }

  beforeAll(async () => {
    pgPort = await freePort();
    [postgres, temporal] = await Promise.all([startPg(), createDevServer()]);
    pool = createPool({ connectionString: postgres.url, max: 4 });
    await migrate(pool);
    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    api = app('api', 'api/server.ts', { API_PORT: String(apiPort), DATABASE_POOL_SIZE: '10', API_RATE_LIMIT_PER_MINUTE: '100000' });
    worker = app('worker', 'worker/main.ts', {});
    await until('the API and a worker', async () => (await call('GET', '/readyz')).status === 200, 90_000);
  });
  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop()]);
    await pool?.end();
    await Promise.all([temporal?.stop(), postgres?.stop(5_000)]);
  });

  async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const response = await fetch(`${apiUrl}${url}`, {
      method,
      headers: body ? { 'content-type': 'application/json', ...headers } : headers,
      body: body ? JSON.stringify(body) : undefined,
      // The API answers within its own request timeout (15 s) on a loaded machine too; a hang past it is a failure.
      signal: AbortSignal.timeout(20_000),
    });
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
  }

  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const alive = (p: ManagedProcess) => p.child.exitCode === null && p.child.signalCode === null;

  async function orderStatus(orderId: string): Promise<string | undefined> {
    const { rows } = await pool.query<{ status: string }>('select status from orders where id = $1', [orderId]);
    return rows[0]?.status;
  }

  it(
    'PostgreSQL restarts under load from 4 clients: no process dies, in-flight requests get 503 + Retry-After, every order ends',
    { timeout: 240_000 },
    async () => {
      const account = `pg-${randomUUID().slice(0, 8)}`;
      const sku = `pg-sku-${randomUUID().slice(0, 8)}`;
      await seed(pool, { account: [account, 10_000_000], skus: [[sku, 100_000]] });
      const seen: Answer[] = [];
      const accepted: string[] = [];
      let restarted = false;

      // Each client places orders one after another and retries a 503 with the same key, as the API asks.
      const client = async (n: number) => {
        for (let i = 0; !restarted || i < 40; i++) {
          const id = `pg-${n}-${i}-${randomUUID().slice(0, 6)}`;
          for (;;) {
            const answer = await call(
              'POST',
              '/orders',
              { customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 100 }] },
              { 'idempotency-key': id },
            ).catch((err: unknown): Answer => ({ status: -1, retryAfter: null, body: { error: String(err) } }));
            seen.push(answer);
            if (answer.status === 200 || answer.status === 202) break;
            if (answer.status !== 503) throw new Error(`order ${id}: ${answer.status} ${JSON.stringify(answer.body)}`);
            await new Promise((r) => setTimeout(r, 200));
          }
          accepted.push(id);
          if (i > 400) throw new Error('the load never saw the restart through');
        }
      };
      const clients = [1, 2, 3, 4].map(client);

      await until('some orders placed', () => Promise.resolve(accepted.length >= 20));
      await pool.end();
      postgres.child.kill('SIGINT'); // fast shutdown: "terminating connection due to administrator command"
      await postgres.exited;
      await new Promise((r) => setTimeout(r, 1_000));
      postgres = await startPg();
      restarted = true;
      pool = createPool({ connectionString: postgres.url, max: 4 });
      await Promise.all(clients);

      expect(alive(api), 'API process alive').toBe(true);
      expect(alive(worker), 'worker process alive').toBe(true);
      expect(seen.filter((a) => ![200, 202, 503].includes(a.status))).toEqual([]);
      expect(seen.filter((a) => a.status === 503 && a.retryAfter !== '5')).toEqual([]);
      expect(
        seen.some((a) => a.status === 503),
        'the restart was felt by some request',
      ).toBe(true);
      await until('every accepted order confirmed', async () => (await Promise.all(accepted.map(orderStatus))).every((s) => s === 'CONFIRMED'), 120_000);
      await assertInvariants(pool);
    },
  );

  it(
    'Temporal down: 30 concurrent orders all get 503 + Retry-After (never 500); GET answers from the database within its deadline',
    { timeout: 120_000 },
    async () => {
      const account = `td-${randomUUID().slice(0, 8)}`;
      const sku = `td-sku-${randomUUID().slice(0, 8)}`;
      await seed(pool, { account: [account, 1_000_000], skus: [[sku, 1_000]] });
      const known = `td-known-${randomUUID().slice(0, 6)}`;
      expect(
        (
          await call(
            'POST',
            '/orders',
            { customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 10 }], confirmation: 'manual' },
            { 'idempotency-key': known },
          )
        ).status,
      ).toBe(202);
      await until('the saga waits for a decision', async () => (await call('GET', `/orders/${known}`)).body.saga !== undefined);

      await temporal.stop();
      try {
        const answers = await Promise.all(
          Array.from({ length: 30 }, (_, i) =>
            call('POST', '/orders', { customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 10 }] }, { 'idempotency-key': `td-${i}-${account}` }),
          ),
        );
        expect(answers.map((a) => a.status)).toEqual(Array(30).fill(503));
        expect(answers.every((a) => a.retryAfter === '5' && typeof a.body.error === 'string' && typeof a.body.message === 'string')).toBe(true);

        const view = await call('GET', `/orders/${known}`);
        expect(view.status).toBe(200);
        expect(view.body).toMatchObject({ orderId: known, status: 'PENDING', source: 'database', workflowUnreachable: true });
        const confirm = await call('POST', `/orders/${known}/confirm`);
        expect(confirm.status).toBe(503);
        expect(confirm.retryAfter).toBe('5');
      } finally {
        await temporal.restart();
      }
      expect(alive(api)).toBe(true);
      await until('the confirm goes through once Temporal is back', async () => [200, 202].includes((await call('POST', `/orders/${known}/confirm`)).status));
      await until('the order confirmed', async () => (await orderStatus(known)) === 'CONFIRMED', 60_000);
    },
  );

  it(
    'Temporal killed -9 while orders arrive (B1, P1): every start it acknowledged survives the crash, the rest are retried with their keys, each order ends once',
    { timeout: 240_000 },
    async () => {
      const account = `b1-${randomUUID().slice(0, 8)}`;
      const sku = `b1-sku-${randomUUID().slice(0, 8)}`;
      await seed(pool, { account: [account, 1_000_000], skus: [[sku, 1_000]] });
      const ids = Array.from({ length: 40 }, (_, i) => `b1-${i}-${account}`);
      const order = (id: string) =>
        call('POST', '/orders', { customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 100 }] }, { 'idempotency-key': id }).catch(
          (err: unknown): Answer => ({ status: -1, retryAfter: null, body: { error: String(err) } }),
        );
      const warmUp = `b1-warm-${account}`;
      expect((await order(warmUp)).status).toBe(202);
      await until('a worker polling', async () => (await orderStatus(warmUp)) === 'CONFIRMED', 120_000);
      const acknowledged: string[] = [];
      const first = ids.map(async (id, i) => {
        await new Promise((r) => setTimeout(r, i * 50));
        const answer = await order(id);
        if (answer.status === 202) acknowledged.push(id);
        return answer;
      });
      await until('some starts acknowledged', () => Promise.resolve(acknowledged.length >= 10));
      await temporal.crash();
      const answers = await Promise.all(first);
      expect(answers.filter((a) => ![202, 503].includes(a.status))).toEqual([]);
      const unanswered = ids.filter((_, i) => answers[i]!.status !== 202);
      expect(unanswered.length, 'the crash cut some orders off').toBeGreaterThan(0);

      await temporal.restart();
      // Durable before acknowledged: a saga whose start was answered 202 runs on after the crash without being sent again.
      await until(
        'every acknowledged order confirmed',
        async () => (await Promise.all(acknowledged.map(orderStatus))).every((s) => s === 'CONFIRMED'),
        120_000,
      );
      for (const id of unanswered) await until(`${id} accepted on retry`, async () => [200, 202].includes((await order(id)).status));
      await until('every order confirmed', async () => (await Promise.all(ids.map(orderStatus))).every((s) => s === 'CONFIRMED'), 120_000);
      const { rows } = await pool.query<{ n: number }>("select count(*)::int as n from ledger where account_id = $1 and kind = 'debit'", [account]);
      expect(rows[0]!.n).toBe(ids.length + 1);
      expect(alive(api) && alive(worker)).toBe(true);
      await assertInvariants(pool);
    },
  );

  it('a frozen worker (SIGSTOP): GET /orders/:id answers from the database instead of hanging', { timeout: 120_000 }, async () => {
    const account = `fz-${randomUUID().slice(0, 8)}`;
    const sku = `fz-sku-${randomUUID().slice(0, 8)}`;
    await seed(pool, { account: [account, 1_000_000], skus: [[sku, 1_000]] });
    const id = `fz-${randomUUID().slice(0, 6)}`;
    await until('the API takes orders again', async () => (await call('GET', '/readyz')).status === 200);
    expect(
      (
        await call(
          'POST',
          '/orders',
          { customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 10 }], confirmation: 'manual' },
          { 'idempotency-key': id },
        )
      ).status,
    ).toBe(202);
    await until('the saga waits for a decision', async () => (await call('GET', `/orders/${id}`)).body.source === 'workflow');

    worker.child.kill('SIGSTOP');
    try {
      // The sticky queue of a frozen worker times out only after a while; until then queries wait on it.
      const view = await call('GET', `/orders/${id}`);
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({ orderId: id, status: 'PENDING', source: 'database', workflowUnreachable: true });
    } finally {
      worker.child.kill('SIGCONT');
    }
    expect([200, 202]).toContain((await call('POST', `/orders/${id}/cancel`, { reason: 'test over' })).status);
    await until('the order cancelled', async () => (await orderStatus(id)) === 'CANCELLED', 60_000);
    await assertInvariants(pool);
  });

  it('a worker killed -9 mid-refund: another worker finishes it; one credit, one restock, one event', { timeout: 180_000 }, async () => {
    const account = `rk-${randomUUID().slice(0, 8)}`;
    const sku = `rk-sku-${randomUUID().slice(0, 8)}`;
    await seed(pool, { account: [account, 1_000_000], skus: [[sku, 10]] });
    const orderId = `rk-${randomUUID().slice(0, 6)}`;
    await until('the API takes orders again', async () => (await call('GET', '/readyz')).status === 200);
    expect(
      (await call('POST', '/orders', { customerId: account, items: [{ sku, quantity: 2, unitPriceCents: 500 }] }, { 'idempotency-key': orderId })).status,
    ).toBe(202);
    await until('the order confirmed', async () => (await orderStatus(orderId)) === 'CONFIRMED', 60_000);

    // The refund's restock holds its transaction open, so the kill lands inside it.
    const refundId = `${orderId}-r`;
    const slow = `slow_${randomUUID().replaceAll('-', '')}`;
    await pool.query(`create function ${slow}() returns trigger language plpgsql as $$
      begin if new.order_id = 'refund/${refundId}' and new.step = 'restock' then perform pg_sleep(3); end if; return new; end $$`);
    await pool.query(`create trigger ${slow} before insert on saga_steps for each row execute function ${slow}()`);
    try {
      expect((await call('POST', `/orders/${orderId}/refunds`, { refundId, amountCents: 1_000 })).status).toBe(202);
      await until('the credit applied and the restock under way', async () => {
        const { rows } = await pool.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where query like '%insert into saga_steps%' and state = 'active' and wait_event = 'PgSleep'`,
        );
        return rows[0]!.n > 0;
      });
      worker.child.kill('SIGKILL');
      await until('the worker gone', () => Promise.resolve(!alive(worker)));
      worker = app('worker', 'worker/main.ts', {});
      await until(
        'the refund refunded by the new worker',
        async () => (await call('GET', `/orders/${orderId}/refunds/${refundId}`)).body.status === 'REFUNDED',
        120_000,
      );
    } finally {
      await pool.query(`drop trigger if exists ${slow} on saga_steps`);
      await pool.query(`drop function if exists ${slow}()`);
    }
    const { rows: ledger } = await pool.query<{ kind: string; amount_cents: number }>(
      'select kind, amount_cents from ledger where account_id = $1 order by id',
      [account],
    );
    expect(ledger.map((l) => [l.kind, l.amount_cents])).toEqual([
      ['debit', -1_000],
      ['reward', 10],
      ['refund', 1_000],
      ['reward', -10],
    ]);
    const { rows: stock } = await pool.query<{ available: number }>('select available from inventory where sku = $1', [sku]);
    expect(stock[0]!.available).toBe(10);
    const { rows: events } = await pool.query<{ event_type: string }>('select event_type from outbox where refund_id = $1', [refundId]);
    expect(events.map((e) => e.event_type)).toEqual(['refund.completed']);
    await assertInvariants(pool);
  });
});
