import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate } from '../db/migrate';
import { createPool, type Pool } from '../db/pool';
import { workflowIdFor } from '../domain/order';
import { Kafka, logLevel } from 'kafkajs';
import { Topics } from '../contract/topics';
import { ensureTopics } from '../messaging/topics';
import { readToolchain, repoRoot, spawnManaged, startKafka, startPostgres, type ManagedProcess } from '../tools/stack/servers';
import { startToxiproxy, toxicOf, type Proxy, type Toxiproxy } from '../tools/stack/toxiproxy';
import { orderSaga } from '../workflows/order-saga';
import { createDevServer } from './helpers/dev-server';
import { freePort } from './global-setup';
import { assertInvariants } from './helpers/invariants';
import { balanceOf, ledgerOf, seed } from './helpers/seed';

type Answer = { status: number; retryAfter: string | null; body: Record<string, unknown>; ms: number };

/**
 * Faults of the network, not of processes: the API and a worker run as their own processes, and each of their
 * links to PostgreSQL and Temporal passes through a Toxiproxy of this file's own, which drops, delays or resets
 * the bytes. The test itself talks to the servers directly.
 */
describe('network faults through Toxiproxy: a lost commit reply, a hanging Temporal, a silent Kafka', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'netfaults-'));
  chmodSync(dir, 0o755);
  let postgres: ManagedProcess & { url: string };
  let temporal: Awaited<ReturnType<typeof createDevServer>>;
  let toxiproxy: Toxiproxy;
  let pool: Pool;
  let client: Client;
  let api: ManagedProcess;
  let worker: ManagedProcess;
  let apiUrl: string;
  const links: Record<'workerPg' | 'apiPg' | 'workerTemporal' | 'apiTemporal', Proxy> = {} as never;
  const taskQueue = `netfaults-${randomUUID().slice(0, 8)}`;
  let app: (name: string, entry: string, env: Record<string, string>) => ManagedProcess;

  const through = (url: string, proxy: Proxy) => {
    const u = new URL(url);
    u.host = proxy.listen;
    return u.toString();
  };

  beforeAll(async () => {
    const bin = inject('toxiproxyBin');
    if (!bin) throw new Error('TOXIPROXY_BIN is not in .stack/toolchain.env; run: npm run toolchain');
    [postgres, temporal, toxiproxy] = await Promise.all([
      startPostgres({
        pgBin: inject('pgBin'),
        dataDir: path.join(dir, 'pg'),
        port: await freePort(),
        database: 'orders',
        logFile: path.join(dir, 'postgres.log'),
      }),
      createDevServer(),
      startToxiproxy({ bin, logFile: path.join(dir, 'toxiproxy.log') }),
    ]);
    pool = createPool({ connectionString: postgres.url, max: 4 });
    await migrate(pool);
    client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
    const pgUpstream = new URL(postgres.url).host;
    links.workerPg = await toxiproxy.createProxy({ name: 'worker-postgres', upstream: pgUpstream });
    links.apiPg = await toxiproxy.createProxy({ name: 'api-postgres', upstream: pgUpstream });
    links.workerTemporal = await toxiproxy.createProxy({ name: 'worker-temporal', upstream: temporal.address });
    links.apiTemporal = await toxiproxy.createProxy({ name: 'api-temporal', upstream: temporal.address });

    app = (name: string, entry: string, env: Record<string, string>) =>
      spawnManaged({
        name,
        command: process.execPath,
        args: ['--import', 'tsx', path.join(repoRoot, entry)],
        env: { ...process.env, LOG_LEVEL: 'warn', TEMPORAL_TASK_QUEUE: taskQueue, WORKER_METRICS_PORT: '0', ...env },
        logFile: path.join(dir, `${name}.log`),
      });
    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    api = app('api', 'api/server.ts', {
      API_PORT: String(apiPort),
      DATABASE_URL: through(postgres.url, links.apiPg),
      TEMPORAL_ADDRESS: links.apiTemporal.listen,
      API_RATE_LIMIT_PER_MINUTE: '100000',
      REFUND_RESTART_EVERY_MS: '1000',
    });
    // A short statement timeout, so that attempts whose replies are dropped end within seconds.
    worker = app('worker', 'worker/main.ts', {
      DATABASE_URL: through(postgres.url, links.workerPg),
      TEMPORAL_ADDRESS: links.workerTemporal.listen,
      DATABASE_QUERY_TIMEOUT_MS: '3000',
    });
    await until('the API and a worker', async () => (await call('GET', '/readyz')).status === 200, 90_000);
  });
  const extra: ManagedProcess[] = [];
  afterAll(async () => {
    await Promise.all([api?.stop(), worker?.stop(), ...extra.map((p) => p.stop())]);
    await pool?.end();
    await client?.connection.close();
    await Promise.all([temporal?.stop(), postgres?.stop(5_000), toxiproxy?.stop()]);
  });

  async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const started = Date.now();
    const response = await fetch(`${apiUrl}${url}`, {
      method,
      headers: body ? { 'content-type': 'application/json', ...headers } : headers,
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await response.json()) as Record<string, unknown>;
    return { status: response.status, retryAfter: response.headers.get('retry-after'), body: answer, ms: Date.now() - started };
  }

  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const alive = (p: ManagedProcess) => p.child.exitCode === null && p.child.signalCode === null;

  it('a PostgreSQL commit whose reply is blackholed ends applied exactly once, decided by check-backs', { timeout: 180_000 }, async () => {
    const orderId = `netfault-commit-${randomUUID().slice(0, 8)}`;
    const account = `nf-${randomUUID().slice(0, 8)}`;
    const sku = `nf-sku-${randomUUID().slice(0, 8)}`;
    await seed(pool, { account: [account, 10_000], skus: [[sku, 10]] });
    // The debit's COMMIT takes 1.5 s on the server (a deferred trigger), long enough to drop its reply.
    await pool.query(`
      create or replace function slow_commit() returns trigger language plpgsql as $$ begin perform pg_sleep(1.5); return null; end $$;
      create constraint trigger slow_commit after insert on ledger deferrable initially deferred for each row
        when (new.idempotency_key = 'order:${orderId}:debit') execute function slow_commit();`);
    await client.workflow.start(orderSaga, {
      taskQueue,
      workflowId: workflowIdFor(orderId),
      args: [
        { messageId: orderId, customerId: account, items: [{ sku, quantity: 2, unitPriceCents: 1_000 }], maxCheckBacks: 20, checkBackInterval: '2 seconds' },
      ],
    });
    await until('the debit to be committing', async () => {
      const { rowCount } = await pool.query("select 1 from pg_stat_activity where wait_event = 'PgSleep' and query ilike 'commit%'");
      return rowCount === 1;
    });
    await toxiproxy.addToxic(links.workerPg.name, toxicOf('timeout', 'downstream', 'commit-reply-lost'));
    // The server finished the commit; the worker never hears of it.
    await until('the debit to be committed on the server', async () => (await ledgerOf(pool, account)).length === 1, 10_000);
    const handle = client.workflow.getHandle<typeof orderSaga>(workflowIdFor(orderId));
    // Keep the link dark until the forward attempts are spent and the saga checks back.
    await until(
      'a check-back',
      async () => ((await handle.fetchHistory()).events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'checkStep'),
      150_000,
    );
    await toxiproxy.removeToxic(links.workerPg.name, 'commit-reply-lost');
    const result = await handle.result();
    expect(result).toMatchObject({ state: 'CONFIRMED', stepsApplied: ['reserve', 'debit'] });
    expect(result.checkBacksUsed).toBeGreaterThanOrEqual(1);
    const ledger = await ledgerOf(pool, account);
    expect(ledger.filter((l) => l.kind === 'debit')).toEqual([{ kind: 'debit', amount_cents: -2_000, idempotency_key: `order:${orderId}:debit` }]);
    expect(await balanceOf(pool, account)).toBe(10_000 - 2_000 + 20);
    expect(alive(worker), 'worker alive').toBe(true);
    await assertInvariants(pool);
  });

  it(
    'a Temporal link that hangs: 503 with Retry-After within the API deadline, never a 500; after it, the same request starts one saga, and a refund answered 503 and never retried ends REFUNDED once',
    { timeout: 180_000 },
    async () => {
      const account = `nt-${randomUUID().slice(0, 8)}`;
      const sku = `nt-sku-${randomUUID().slice(0, 8)}`;
      await seed(pool, { account: [account, 10_000], skus: [[sku, 10]] });
      const body = { customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 100 }] };
      const placed = `nt-placed-${randomUUID().slice(0, 6)}`;
      expect((await call('POST', '/orders', body, { 'idempotency-key': placed })).status).toBe(202);
      await until(
        'the first order to confirm',
        async () => (await pool.query("select 1 from orders where id = $1 and status = 'CONFIRMED'", [placed])).rowCount === 1,
      );

      await toxiproxy.addToxic(links.apiTemporal.name, toxicOf('timeout', 'downstream', 'temporal-hangs'));
      await toxiproxy.addToxic(links.apiTemporal.name, toxicOf('timeout', 'upstream', 'temporal-hangs-up'));
      const orderId = `nt-hang-${randomUUID().slice(0, 6)}`;
      const refundId = `nt-refund-${randomUUID().slice(0, 6)}`;
      const answers: Answer[] = [];
      try {
        for (let i = 0; i < 3; i++) answers.push(await call('POST', '/orders', body, { 'idempotency-key': orderId }));
        const read = await call('GET', `/orders/${placed}`);
        expect(read.status).toBe(200);
        expect(read.body).toMatchObject({ status: 'CONFIRMED', source: 'database', workflowUnreachable: true });
        answers.push(await call('POST', `/orders/${placed}/refunds`, { refundId, amountCents: 40, reason: 'late delivery' }));
      } finally {
        await toxiproxy.removeToxic(links.apiTemporal.name, 'temporal-hangs');
        await toxiproxy.removeToxic(links.apiTemporal.name, 'temporal-hangs-up');
      }
      for (const a of answers) {
        expect(a.status, JSON.stringify(a.body)).toBe(503);
        expect(a.body).toMatchObject({ error: 'TemporalUnavailable' });
        expect(a.retryAfter).toBe('5');
        // API_REQUEST_TIMEOUT_MS, the most any request may take.
        expect(a.ms).toBeLessThan(15_000);
      }
      let after: Answer | undefined;
      await until(
        'the API to reach Temporal again',
        async () => {
          after = await call('POST', '/orders', body, { 'idempotency-key': orderId });
          if (after.status === 503) return false;
          return true;
        },
        90_000,
      );
      expect([200, 202]).toContain(after!.status);
      const result = await client.workflow.getHandle<typeof orderSaga>(workflowIdFor(orderId)).result();
      expect(result.state).toBe('CONFIRMED');
      const debits = (await ledgerOf(pool, account)).filter((l) => l.kind === 'debit');
      expect(debits.map((d) => d.idempotency_key).sort()).toEqual([`order:${placed}:debit`, `order:${orderId}:debit`].sort());
      expect(answers.at(-1)!.body).toMatchObject({ message: expect.stringContaining('the refund is stored and starts once Temporal answers') as unknown });
      // Nobody retries the refund: the API's sweep starts it once its lease is over.
      await until(
        'the stored refund to end',
        async () => (await pool.query("select 1 from refunds where id = $1 and status = 'REFUNDED'", [refundId])).rowCount === 1,
        90_000,
      );
      const credits = (await ledgerOf(pool, account)).filter((l) => l.kind === 'refund');
      expect(credits.map((c) => c.amount_cents)).toEqual([40]);
      const metrics = await fetch(`${apiUrl}/metrics`).then((r) => r.text());
      expect(metrics).toMatch(/^refunds_restarted_total 1$/m);
      expect(alive(api), 'API alive').toBe(true);
      await assertInvariants(pool);
    },
  );

  it(
    'Kafka blackholed: intake pauses, starts and commits nothing meanwhile, and afterwards takes every message exactly once',
    { timeout: 240_000 },
    async () => {
      const kafkaPort = await freePort();
      const proxyListen = `127.0.0.1:${await freePort()}`;
      const broker = await startKafka({
        libs: readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack')).KAFKA_LIBS,
        dataDir: path.join(dir, 'kafka'),
        port: await freePort(),
        controllerPort: await freePort(),
        logFile: path.join(dir, 'kafka.log'),
        proxied: { port: kafkaPort, advertised: proxyListen },
      });
      extra.push(broker);
      const link = await toxiproxy.createProxy({ name: 'consumer-kafka', upstream: `127.0.0.1:${kafkaPort}`, listen: proxyListen });
      const kafka = new Kafka({ brokers: broker.brokers, clientId: 'netfaults', logLevel: logLevel.NOTHING });
      await ensureTopics(kafka);
      const groupId = `netfaults-${randomUUID().slice(0, 8)}`;
      const consumer = app('consumer', 'consumer/main.ts', {
        KAFKA_BROKERS: link.listen,
        KAFKA_CONSUMER_GROUP: groupId,
        DATABASE_URL: postgres.url,
        TEMPORAL_ADDRESS: temporal.address,
        CONSUMER_METRICS_PORT: '0',
      });
      extra.push(consumer);
      const admin = kafka.admin();
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await Promise.all([admin.connect(), producer.connect()]);
      try {
        const account = `nk-${randomUUID().slice(0, 8)}`;
        const sku = `nk-sku-${randomUUID().slice(0, 8)}`;
        await seed(pool, { account: [account, 100_000], skus: [[sku, 100]] });
        const send = (ids: string[]) =>
          producer.send({
            topic: Topics.commands,
            acks: -1,
            messages: ids.map((messageId) => ({
              key: messageId,
              value: JSON.stringify({ messageId, customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 100 }] }),
            })),
          });
        const started = async (ids: string[]) => (await pool.query('select 1 from processed_messages where message_id = any($1)', [ids])).rowCount ?? 0;
        const confirmed = async (ids: string[]) => (await pool.query("select 1 from orders where id = any($1) and status = 'CONFIRMED'", [ids])).rowCount ?? 0;
        const committed = async () => {
          const [offsets] = await admin.fetchOffsets({ groupId, topics: [Topics.commands] });
          return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
        };
        const before = Array.from({ length: 5 }, (_, i) => `nk-before-${i}-${randomUUID().slice(0, 6)}`);
        await send(before);
        await until('the intake through the proxy', async () => (await confirmed(before)) === 5 && (await committed()) === 5, 120_000);

        await toxiproxy.addToxic(link.name, toxicOf('timeout', 'downstream', 'kafka-silent'));
        await toxiproxy.addToxic(link.name, toxicOf('timeout', 'upstream', 'kafka-silent-up'));
        const during = Array.from({ length: 20 }, (_, i) => `nk-during-${i}-${randomUUID().slice(0, 6)}`);
        try {
          await send(during);
          // Nothing reaches the consumer, so nothing may start, and no offset may move past what was started.
          for (let i = 0; i < 16; i++) {
            await new Promise((r) => setTimeout(r, 500));
            expect(await started(during)).toBe(0);
            expect(await committed()).toBe(5);
          }
          expect(alive(consumer), 'consumer alive').toBe(true);
        } finally {
          await toxiproxy.removeToxic(link.name, 'kafka-silent');
          await toxiproxy.removeToxic(link.name, 'kafka-silent-up');
        }
        await until('every message after the link is back', async () => (await confirmed(during)) === 20 && (await committed()) === 25, 180_000);
        const { rows } = await pool.query<{ n: string }>('select count(*) as n from processed_messages where message_id = any($1)', [[...before, ...during]]);
        expect(Number(rows[0]!.n)).toBe(25);
        expect((await ledgerOf(pool, account)).filter((l) => l.kind === 'debit')).toHaveLength(25);
        expect(await balanceOf(pool, account)).toBe(100_000 - 25 * 100 + 25);
        expect(alive(consumer), 'consumer alive').toBe(true);
        await assertInvariants(pool);
      } finally {
        await Promise.all([admin.disconnect(), producer.disconnect()]);
      }
    },
  );
});
