import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config';
import { Topics } from '../contract/topics';
import { createKafka, ensureTopics } from '../messaging/topics';
import { startApi, startConsumer, startWorker } from '../tools/stack/apps';
import { readToolchain, repoRoot, startKafka, type ManagedProcess } from '../tools/stack/servers';
import { freePort } from './global-setup';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { createDevServer } from './helpers/dev-server';
import { seed, uniqueIds } from './helpers/seed';

type Line = Record<string, unknown>;
type OtlpSpan = { traceId: string; spanId: string; parentSpanId?: string; name: string; service: string };

/** An OTLP/HTTP collector that keeps what it is sent (JSON, as the exporter sends it). */
async function startCollector() {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const spans = (): OtlpSpan[] =>
    bodies.flatMap((body) =>
      (
        JSON.parse(body) as {
          resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
        }
      ).resourceSpans.flatMap((r) => {
        const service = r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        return r.scopeSpans.flatMap((s) => s.spans.map((span) => ({ ...span, service })));
      }),
    );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, bodies, spans, close: () => new Promise((r) => server.close(r)) };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('logs of the real processes: IDs where known, never a secret', () => {
  // Characters a URL must encode, so both the encoded and the decoded form are looked for.
  const password = `pw:${randomBytes(6).toString('hex')}@#/`;
  const apiKey = `key-${randomBytes(16).toString('hex')}`;
  const ids = uniqueIds('secrets');
  const orders = { rest: `${ids.message}-rest`, kafka: `${ids.message}-kafka`, failing: `${ids.message}-down` };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'log-secrets-'));
  chmodSync(dir, 0o755);
  let db: TestDatabase;
  let temporal: Awaited<ReturnType<typeof createDevServer>>;
  let kafka: ManagedProcess & { brokers: string[] };
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let apiUrl: string;
  const procs: ManagedProcess[] = [];
  let logs: { name: string; lines: Line[]; raw: string }[];

  beforeAll(async () => {
    const toolchain = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'));
    // A broker of its own: the consumer process reads orders.commands, which other test files count on.
    [db, temporal, kafka, collector] = await Promise.all([
      createTestDatabase(),
      createDevServer(),
      (async () =>
        startKafka({
          libs: toolchain.KAFKA_LIBS,
          dataDir: path.join(dir, 'kafka'),
          port: await freePort(),
          controllerPort: await freePort(),
          logFile: path.join(dir, 'kafka.log'),
        }))(),
      startCollector(),
    ]);
    await ensureTopics(createKafka({ brokers: kafka.brokers, clientId: 'log-secrets' }));
    const url = new URL(db.url);
    url.password = encodeURIComponent(password);
    const apiPort = await freePort();
    apiUrl = `http://127.0.0.1:${apiPort}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      // The test PostgreSQL trusts local connections, so the password is never checked, only carried.
      DATABASE_URL: url.toString(),
      API_KEY: apiKey,
      API_PORT: String(apiPort),
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: `secrets-${ids.tag}`,
      KAFKA_BROKERS: kafka.brokers.join(','),
      LOG_LEVEL: 'info',
      WORKER_METRICS_PORT: '0',
      CONSUMER_METRICS_PORT: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: '200',
    };
    const options = { env, logDir: dir };
    procs.push(await startWorker({ ...options, name: 'worker', temporalAddress: temporal.address, namespace: 'default', taskQueue: env.TEMPORAL_TASK_QUEUE! }));
    procs.push(await startConsumer(options));
    procs.push(await startApi({ ...options, port: apiPort }));

    // REST: an order the account cannot pay, so the saga compensates and its activities log. Kafka: one it can.
    await seed(db.pool, { account: [ids.account, 5_000], skus: [[ids.sku, 10]] });
    const auth = { authorization: `Bearer ${apiKey}`, 'x-api-key': apiKey, 'content-type': 'application/json' };
    const post = (orderId: string, quantity: number) =>
      fetch(`${apiUrl}/orders`, {
        method: 'POST',
        headers: { ...auth, 'idempotency-key': orderId },
        body: JSON.stringify({ customerId: ids.account, items: [{ sku: ids.sku, quantity, unitPriceCents: 4_000 }] }),
      });
    expect((await post(orders.rest, 2)).status).toBe(202);
    const producer = createKafka({ brokers: kafka.brokers, clientId: 'log-secrets' }).producer();
    await producer.connect();
    await producer.send({
      topic: Topics.commands,
      messages: [
        {
          key: orders.kafka,
          value: JSON.stringify({ messageId: orders.kafka, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 1_000 }] }),
        },
      ],
    });
    await producer.disconnect();
    const status = async (id: string) => (await db.pool.query<{ status: string }>('select status from orders where id = $1', [id])).rows[0]?.status;
    await until('both orders to end', async () => (await status(orders.rest)) === 'CANCELLED' && (await status(orders.kafka)) === 'CONFIRMED');
    await until('the spans of all three processes', () => new Set(collector.spans().map((s) => s.service)).size === 3);

    // Refused: no key, and a wrong one.
    expect((await fetch(`${apiUrl}/orders/${orders.rest}`)).status).toBe(401);
    expect((await fetch(`${apiUrl}/orders/${orders.rest}`, { headers: { authorization: `Bearer ${'x'.repeat(apiKey.length)}` } })).status).toBe(401);
    expect((await fetch(`${apiUrl}/orders/${orders.rest}`, { headers: auth })).status).toBe(200);
    // Failing: Temporal goes away, and the start that cannot reach it is logged with its error.
    await temporal.stop();
    expect((await post(orders.failing, 1)).status).toBe(503);

    for (const proc of procs) await proc.stop(5_000);
    logs = procs.map((proc) => {
      const raw = readFileSync(proc.logFile, 'utf8');
      return {
        name: proc.name,
        raw,
        lines: raw
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Line),
      };
    });
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop(2_000)));
    await kafka?.stop();
    await temporal?.stop().catch(() => undefined);
    await collector?.close();
    await db?.drop();
  });

  const linesOf = (name: string) => logs.find((l) => l.name === name)!.lines;

  it('every process writes JSON lines, and none holds the API key or the database password, encoded or not', () => {
    expect(logs.map((l) => [l.name, l.lines.length > 0])).toEqual([
      ['worker', true],
      ['consumer', true],
      ['api', true],
    ]);
    for (const secret of [apiKey, password, encodeURIComponent(password)]) {
      for (const log of logs) expect(log.raw.includes(secret), `${log.name} logged ${secret}`).toBe(false);
      // Nor does anything the processes exported as spans.
      expect(collector.bodies.some((b) => b.includes(secret))).toBe(false);
    }
  });

  it('API lines for order routes carry the order, the refused and the failing ones included', () => {
    const api = linesOf('api');
    const completed = (orderId: string, statusCode: number) =>
      api.some((l) => l.msg === 'request completed' && l.orderId === orderId && (l.res as { statusCode?: number } | undefined)?.statusCode === statusCode);
    expect(completed(orders.rest, 202)).toBe(true);
    expect(api.find((l) => l.orderId === orders.rest && l.msg === 'request completed')).toMatchObject({
      messageId: orders.rest,
      workflowId: `order-${orders.rest}`,
    });
    expect(completed(orders.rest, 401)).toBe(true);
    expect(completed(orders.failing, 503)).toBe(true);
    const failure = api.find((l) => l.orderId === orders.failing && l.err);
    expect(failure).toMatchObject({ level: 40, name: 'api', messageId: orders.failing, err: { type: 'HttpError' } });
  });

  it('the consumer logs each message with its messageId, and worker activity lines carry the workflow', () => {
    expect(linesOf('consumer').find((l) => l.messageId === orders.kafka)).toMatchObject({
      msg: 'order started',
      orderId: orders.kafka,
      workflowId: `order-${orders.kafka}`,
      duplicate: false,
      topic: Topics.commands,
    });
    const compensation = linesOf('worker').find((l) => l.msg === 'releaseStock' && l.orderId === orders.rest);
    expect(compensation).toMatchObject({ name: 'worker', workflowId: `order-${orders.rest}`, activityType: 'releaseStock' });
  });

  it('over OTLP/HTTP: one trace from the REST request and one from the Kafka message reach the worker', () => {
    const spans = collector.spans();
    const traceOf = (root: OtlpSpan | undefined) => spans.filter((s) => s.traceId === root?.traceId);
    const rest = traceOf(spans.find((s) => s.name === 'POST /orders' && s.service === 'api'));
    const message = traceOf(spans.find((s) => s.name === `${Topics.commands} process` && s.service === 'consumer'));
    for (const trace of [rest, message]) {
      expect(trace.map((s) => s.name)).toEqual(expect.arrayContaining(['StartWorkflow:orderSaga', 'RunWorkflow:orderSaga', 'RunActivity:reserveStock']));
      expect(trace.some((s) => s.service === 'worker' && s.name === 'UPDATE')).toBe(true);
    }
    expect(new Set(message.map((s) => s.service))).toEqual(new Set(['consumer', 'worker']));
    expect(rest.map((s) => s.name)).toContain('RunActivity:releaseStock');
  });

  it('configuration errors do not repeat the key or a password', () => {
    expect(() => loadConfig({ API_KEY: 'too-short' })).toThrow(/^invalid API_KEY=<hidden>: /);
    expect(() => loadConfig({ DATABASE_URL: `mysql://app:${encodeURIComponent(password)}@db/orders` })).toThrow(
      /^invalid DATABASE_URL="mysql:\/\/app:\*\*\*@db\/orders": /,
    );
  });
});
