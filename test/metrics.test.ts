import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Topics } from '../contract/topics';
import { createPool } from '../db/pool';
import { createKafka, ensureTopics } from '../messaging/topics';
import { createConsumerMetrics } from '../consumer/metrics';
import { repoRoot, spawnManaged, StackError, waitUntil, type ManagedProcess } from '../tools/stack/servers';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { createDevServer } from './helpers/dev-server';
import { conventionBreaches, parsePrometheus, valueOf, type Family } from './helpers/prometheus';
import { seed, uniqueIds } from './helpers/seed';
import { freePort } from './global-setup';

type Scrape = Map<string, Family>;

/**
 * Each process serves its own metrics: a worker (the SDK's and the saga's), the consumer with the outbox
 * relay, and the API, each spawned as `npm start` spawns it, on a database and a Temporal dev server of
 * this file and the run's Kafka.
 */
describe('metrics: each process serves its own, and they move with real work', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'metrics-'));
  const ids = uniqueIds('metrics');
  /** Lose one optimistic-lock race on each: once in the API (a top-up), once in the worker (a debit). */
  const racing = { api: `${ids.account}-topup`, worker: `${ids.account}-debit` };
  const marker = `free-text-${ids.tag}`;
  /** An order whose reservation fails every attempt on a fault, not a business rule: the saga checks back. */
  const inDoubt = `${ids.message}-rest-in-doubt`;
  let db: TestDatabase;
  let temporal: Awaited<ReturnType<typeof createDevServer>>;
  const procs: ManagedProcess[] = [];
  const urls = { worker: '', consumer: '', api: '' };
  let apiUrl = '';
  let startWorker: (name: string) => ManagedProcess;

  beforeAll(async () => {
    [db, temporal] = await Promise.all([createTestDatabase(), createDevServer()]);
    await seed(db.pool, { account: [ids.account, 1_000_000], skus: [[ids.sku, 1_000]] });
    await seed(db.pool, { account: [racing.api, 0] });
    await seed(db.pool, { account: [racing.worker, 10_000] });
    // A sequence is not rolled back with the retried transaction: each account's first versioned update loses.
    await db.pool.query(`
      create sequence lost_api; create sequence lost_worker;
      create function lose_one_race() returns trigger language plpgsql as $$
      begin
        if old.id = '${racing.api}' then
          if nextval('lost_api') = 1 then return null; end if;
        elsif old.id = '${racing.worker}' then
          if nextval('lost_worker') = 1 then return null; end if;
        end if;
        return new;
      end $$;
      create trigger lose_one_race before update on accounts for each row execute function lose_one_race();
      create function never_apply() returns trigger language plpgsql as $$
      begin raise exception 'the reservation of % fails (${marker})', new.order_id; end $$;
      create trigger never_apply before insert on saga_steps for each row
        when (new.order_id = '${inDoubt}' and new.state = 'applied') execute function never_apply();`);

    const [apiPort, workerPort, consumerPort] = [await freePort(), await freePort(), await freePort()];
    apiUrl = `http://127.0.0.1:${apiPort}`;
    urls.api = `${apiUrl}/metrics`;
    urls.worker = `http://127.0.0.1:${workerPort}/metrics`;
    urls.consumer = `http://127.0.0.1:${consumerPort}/metrics`;
    const env = {
      ...process.env,
      LOG_LEVEL: 'warn',
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      KAFKA_CONSUMER_GROUP: `metrics-${ids.tag}`,
    };
    const app = (name: string, entry: string, extra: Record<string, string>) =>
      procs[
        procs.push(
          spawnManaged({
            name,
            command: process.execPath,
            args: ['--import', 'tsx', path.join(repoRoot, entry)],
            env: { ...env, ...extra },
            logFile: path.join(dir, `${name}.log`),
          }),
        ) - 1
      ]!;
    startWorker = (name) => app(name, 'worker/main.ts', { WORKER_METRICS_PORT: String(workerPort) });
    startWorker('worker');
    app('consumer', 'consumer/main.ts', { CONSUMER_METRICS_PORT: String(consumerPort) });
    app('api', 'api/server.ts', { API_PORT: String(apiPort) });
    await ensureTopics(createKafka({ brokers: inject('kafkaBrokers'), clientId: 'metrics-test' }));
    await waitUntil(
      'the API, the consumer and the worker serving metrics',
      async () => {
        const dead = procs.find((p) => p.child.exitCode !== null);
        if (dead) throw new StackError(`${dead.name} exited ${dead.child.exitCode}: ${readFileSync(dead.logFile, 'utf8').slice(-1_000)}`);
        return (await Promise.all(Object.values(urls).map(reachable))).every(Boolean);
      },
      120_000,
    );
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([temporal?.stop(), db?.drop()]);
  });

  const reachable = (url: string) =>
    fetch(url).then(
      (r) => r.ok,
      () => false,
    );
  async function scrape(url: string): Promise<{ text: string; families: Scrape }> {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    return { text, families: parsePrometheus(text) };
  }
  const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${apiUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  /** The running saga's state, through the API (which asks the saga). */
  async function sagaState(orderId: string): Promise<string | undefined> {
    const answer = (await (await fetch(`${apiUrl}/orders/${orderId}`)).json()) as { saga?: { state: string } };
    return answer.saga?.state;
  }

  async function orderStatus(orderId: string): Promise<string | undefined> {
    const { rows } = await db.pool.query<{ status: string }>('select status from orders where id = $1', [orderId]);
    return rows[0]?.status;
  }

  it(
    'every order counted once, where it happened and not again on replay: REST and Kafka starts, a confirm, cancels by reason, compensations, lost races, dead letters',
    { timeout: 150_000 },
    async () => {
      const item = { sku: ids.sku, quantity: 1, unitPriceCents: 250 };
      const orders = {
        confirmed: `${ids.message}-rest-auto`,
        viaKafka: `${ids.message}-kafka-manual`,
        outOfStock: `${ids.message}-rest-oos`,
      };
      // Through REST: one confirms (its debit loses a race once), one finds no stock.
      expect((await post('/orders', { messageId: orders.confirmed, customerId: racing.worker, items: [item] })).status).toBe(202);
      expect((await post('/orders', { messageId: orders.outOfStock, customerId: ids.account, items: [{ ...item, quantity: 5_000 }] })).status).toBe(202);
      expect((await post('/orders', { messageId: inDoubt, customerId: ids.account, items: [item] })).status).toBe(202);
      // Through Kafka: a manual order, a copy of it, and a record that is not JSON.
      const kafka = createKafka({ brokers: inject('kafkaBrokers'), clientId: 'metrics-test' });
      const producer = kafka.producer();
      await producer.connect();
      const manual = JSON.stringify({ messageId: orders.viaKafka, customerId: ids.account, items: [item], confirmation: 'manual' });
      await producer.send({ topic: Topics.commands, messages: [{ key: orders.viaKafka, value: manual }] });
      await producer.send({
        topic: Topics.commands,
        messages: [
          { key: orders.viaKafka, value: manual },
          { key: ids.tag, value: `{not json ${marker}` },
        ],
      });
      await producer.disconnect();
      await waitUntil(
        'two orders to end and the Kafka one to wait for a decision',
        async () =>
          (await orderStatus(orders.confirmed)) === 'CONFIRMED' &&
          (await orderStatus(orders.outOfStock)) === 'CANCELLED' &&
          (await orderStatus(inDoubt)) === 'CANCELLED' &&
          (await sagaState(orders.viaKafka)) === 'AWAITING_CONFIRMATION',
        60_000,
      ).catch(async (err: unknown) => {
        throw new Error(`${String(err)}: ${JSON.stringify(await Promise.all(Object.values(orders).map(orderStatus)))}`);
      });

      // The worker: the saga's counters and the SDK's, on one port. The TS SDK labels what workflow code emits
      // namespace, taskQueue, workflowType; Core labels its own workflow_type.
      const saga = { workflowType: 'orderSaga' };
      const first = (await scrape(urls.worker)).families;
      expect(valueOf(first, 'orders_confirmed_total', saga)).toBe(1);
      expect(valueOf(first, 'orders_cancelled_total', { ...saga, reason: 'out_of_stock' })).toBe(1);
      expect(valueOf(first, 'orders_cancelled_total', { ...saga, reason: 'step_not_applied' })).toBe(1);
      expect(valueOf(first, 'orders_cancelled_total', saga)).toBe(2);
      expect(valueOf(first, 'saga_check_backs_total', { step: 'reserve', outcome: 'not-applied' })).toBe(1);
      expect(valueOf(first, 'saga_check_backs_total')).toBe(1);
      expect(valueOf(first, 'orders_awaiting_decision_total', saga)).toBe(1);
      // One reserve refused (its compensation writes the fence), one fenced by its check-back's not-applied.
      expect(valueOf(first, 'saga_compensations_total', { step: 'reserve', outcome: 'fenced' })).toBe(1);
      expect(valueOf(first, 'saga_compensations_total', { step: 'reserve', outcome: 'already-fenced' })).toBe(1);
      expect(valueOf(first, 'saga_compensations_total')).toBe(2);
      expect(valueOf(first, 'optimistic_lock_conflicts_total', { activity_type: 'debitAccount' })).toBe(1);
      expect(valueOf(first, 'optimistic_lock_retries_total', { activity_type: 'debitAccount' })).toBe(1);
      expect(valueOf(first, 'temporal_workflow_completed_total', { workflow_type: 'orderSaga' })).toBe(3);
      expect(valueOf(first, 'temporal_workflow_task_execution_latency_seconds_count')).toBeGreaterThan(3);

      // A fresh worker takes over: the cancel makes it replay the waiting saga from its start. What the
      // replay passes again (the wait for a decision) is not counted again; what happens after it is.
      await procs.find((p) => p.name === 'worker')!.stop();
      startWorker('worker-2');
      // Its metrics are served from the start; it polls once it has bundled the workflow code.
      const polling = async () => valueOf((await scrape(urls.worker)).families, 'temporal_num_pollers', { poller_type: 'workflow_task' }) > 0;
      await waitUntil('the second worker polling', polling, 60_000);
      const cancel = await post(`/orders/${orders.viaKafka}/cancel`, { reason: `changed my mind ${marker}` });
      expect(cancel.status).toBe(200);
      expect(await orderStatus(orders.viaKafka)).toBe('CANCELLED');
      const second = (await scrape(urls.worker)).families;
      expect(valueOf(second, 'temporal_workflow_task_replay_latency_seconds_count', { workflow_type: 'orderSaga' })).toBeGreaterThan(0);
      expect(valueOf(second, 'orders_awaiting_decision_total')).toBe(0);
      expect(valueOf(second, 'orders_cancelled_total', { ...saga, reason: 'requested' })).toBe(1);
      expect(valueOf(second, 'orders_cancelled_total')).toBe(1);
      expect(valueOf(second, 'orders_confirmed_total')).toBe(0);
      expect(valueOf(second, 'saga_compensations_total', { step: 'reserve', outcome: 'compensated' })).toBe(1);
      expect(valueOf(second, 'saga_compensations_total', { step: 'debit', outcome: 'compensated' })).toBe(1);
      expect(valueOf(second, 'saga_compensations_total')).toBe(2);

      // The consumer: three records settled, one start, one copy, one dead letter; the relay published what the sagas wrote.
      const consumer = (await scrape(urls.consumer)).families;
      expect(valueOf(consumer, 'kafka_messages_consumed_total', { topic: Topics.commands })).toBe(3);
      expect(valueOf(consumer, 'orders_start_requests_total', { source: 'kafka', result: 'started' })).toBe(1);
      expect(valueOf(consumer, 'orders_start_requests_total', { source: 'kafka', result: 'duplicate' })).toBe(1);
      expect(valueOf(consumer, 'kafka_messages_dead_lettered_total', { error: 'MalformedJson' })).toBe(1);
      expect(consumer.get('kafka_consumer_paused_partitions')?.samples).toEqual([{ name: 'kafka_consumer_paused_partitions', labels: {}, value: 0 }]);
      await waitUntil('the relay to publish every event', async () => valueOf((await scrape(urls.consumer)).families, 'outbox_backlog_events') === 0, 30_000);
      const { rows } = await db.pool.query<{ count: string }>('select count(*) from outbox where published_at is not null');
      const relayed = (await scrape(urls.consumer)).families;
      expect(Number(rows[0]!.count)).toBeGreaterThanOrEqual(3);
      expect(valueOf(relayed, 'outbox_events_published_total')).toBe(Number(rows[0]!.count));
      expect(valueOf(relayed, 'outbox_publish_duration_seconds_count')).toBeGreaterThan(0);
      // Every record of the topic is committed: no lag on any of its partitions.
      const lags = relayed.get('kafka_consumer_lag_messages')?.samples ?? [];
      expect(lags.length).toBeGreaterThan(0);
      expect(lags.filter((s) => s.labels.topic !== Topics.commands || s.value !== 0)).toEqual([]);

      // The API: by route pattern and status, starts by result, its own lost race.
      expect((await post(`/accounts/${racing.api}/credits`, { amountCents: 500 }, { 'idempotency-key': `topup-${ids.tag}` })).status).toBe(201);
      expect((await fetch(`${apiUrl}/no-such-route/${marker}`)).status).toBe(404);
      const api = (await scrape(urls.api)).families;
      expect(valueOf(api, 'http_requests_total', { route: '/orders', method: 'POST', status_code: '202' })).toBe(3);
      expect(valueOf(api, 'http_requests_total', { route: '/orders/:orderId/cancel', method: 'POST', status_code: '200' })).toBe(1);
      expect(valueOf(api, 'http_requests_total', { route: '/accounts/:accountId/credits', method: 'POST', status_code: '201' })).toBe(1);
      expect(valueOf(api, 'http_requests_total', { route: 'unmatched', method: 'GET', status_code: '404' })).toBe(1);
      expect(valueOf(api, 'http_request_duration_seconds_count', { route: '/orders', status_code: '202' })).toBe(3);
      expect(valueOf(api, 'orders_start_requests_total', { source: 'rest', result: 'started' })).toBe(3);
      expect(valueOf(api, 'optimistic_lock_conflicts_total')).toBe(1);
      expect(valueOf(api, 'optimistic_lock_retries_total')).toBe(1);
    },
  );

  it('every family has HELP and TYPE, counters and only counters end in _total, and no label carries free text or an ID', async () => {
    for (const [process, url] of Object.entries(urls)) {
      const { text, families } = await scrape(url);
      expect(conventionBreaches(families), process).toEqual([]);
      const values = [...families.values()].flatMap((f) => f.samples.flatMap((s) => Object.values(s.labels)));
      expect(values.length, process).toBeGreaterThan(0);
      expect(
        values.filter((v) => !/^[\w.:/+-]{0,64}$/.test(v)),
        process,
      ).toEqual([]);
      // No order, message or account ID, and none of the free text the test sent (a cancel reason, a URL, a record).
      for (const secret of [ids.tag, marker]) expect(text, process).not.toContain(secret);
    }
  });

  it('the consumer answers 404 off /metrics', async () => {
    expect((await fetch(urls.consumer.replace('/metrics', '/'))).status).toBe(404);
  });
});

describe('metrics failure paths', () => {
  async function holdPort(): Promise<{ port: number; release(): Promise<void> }> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as net.AddressInfo).port, release: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  it.each([
    ['worker', 'worker/main.ts', 'WORKER_METRICS_PORT'],
    ['consumer', 'consumer/main.ts', 'CONSUMER_METRICS_PORT'],
  ])('a %s whose metrics port is taken exits 1 and names the variable', async (_name, entry, variable) => {
    const held = await holdPort();
    try {
      // Unreachable servers on purpose: the port is checked before anything connects.
      const run = spawnSync(process.execPath, ['--import', 'tsx', entry], {
        cwd: repoRoot,
        env: {
          ...process.env,
          [variable]: String(held.port),
          TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
          KAFKA_BROKERS: `127.0.0.1:${await freePort()}`,
        },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`${held.port}`);
      expect(run.stderr).toContain(`set ${variable} to a free port, or to 0 for none`);
    } finally {
      await held.release();
    }
  });

  it('a scrape while Kafka and PostgreSQL do not answer still answers, without lag or backlog samples', { timeout: 30_000 }, async () => {
    const nowhere = await freePort();
    const pool = createPool({ connectionString: `postgres://postgres@127.0.0.1:${nowhere}/none`, max: 1 });
    const metrics = createConsumerMetrics({
      kafka: createKafka({ brokers: [`127.0.0.1:${nowhere}`], clientId: 'metrics-test' }),
      pool,
      groupId: 'nobody',
      topic: Topics.commands,
      logger: { debug: () => undefined },
      backlog: () => 0,
    });
    try {
      const families = parsePrometheus(await metrics.registry.metrics());
      expect(conventionBreaches(families)).toEqual([]);
      expect(families.get('kafka_consumer_lag_messages')?.samples).toEqual([]);
      expect(families.get('outbox_backlog_events')?.samples).toEqual([]);
      expect(families.get('kafka_messages_consumed_total')?.type).toBe('counter');
    } finally {
      await metrics.close();
      await pool.end();
    }
  });
});
