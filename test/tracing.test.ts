import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp } from '../api/app';
import { loadConfig } from '../config';
import { OrderIntake } from '../consumer/intake';
import { tracedStart } from '../consumer/traced-start';
import { createPool } from '../db/pool';
import { workflowIdFor } from '../domain/order';
import { startOrder } from '../intake/start-order';
import { startTracing, workflowInterceptorModules, type Tracing } from '../tracing';
import { createOrderWorker, workflowsPath } from '../worker/create-worker';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { freePort } from './global-setup';
import { createDevServer } from './helpers/dev-server';
import { quietBundlerLogger, quietLogger } from './helpers/loggers';
import { seed, uniqueIds } from './helpers/seed';

const repoRoot = path.resolve(__dirname, '..');
const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
/** The saga's steps for an auto order, each a (local) activity with its own SQL. */
const steps = ['openOrder', 'reserveStock', 'debitAccount', 'settleConfirmation', 'commitOrder'];

describe('tracing through Temporal interceptors, on a real dev server and PostgreSQL', () => {
  const exporter = new InMemorySpanExporter();
  const spanProcessor = new SimpleSpanProcessor(exporter);
  let db: TestDatabase;
  let temporal: Awaited<ReturnType<typeof createDevServer>>;
  let bundle: WorkflowBundleWithSourceMap;
  let connection: Connection;
  let client: Client;
  let workerConnection: NativeConnection;

  beforeAll(async () => {
    [db, temporal, bundle] = await Promise.all([
      createTestDatabase(),
      createDevServer(),
      // The bundle a worker builds: the workflows plus the tracing interceptors.
      bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: quietBundlerLogger }),
    ]);
    connection = await Connection.connect({ address: temporal.address });
    client = new Client({ connection });
    workerConnection = await NativeConnection.connect({ address: temporal.address });
  });
  afterAll(async () => {
    await workerConnection?.close();
    await connection?.close();
    await temporal?.stop();
    await db?.drop();
  });

  /** The API in-process and an order worker, both traced or both not, for one order; stopped after. */
  async function placeOrder(tracing: { api?: Tracing; worker?: Tracing }, headers: Record<string, string> = {}) {
    const ids = uniqueIds('trace');
    const taskQueue = `trace-${ids.tag}`;
    const config = loadConfig({
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      LOG_LEVEL: 'silent',
      ...(tracing.api ? otel : {}),
    });
    const app: FastifyInstance = await buildApp(config, { logger: false, tracing: tracing.api });
    const pool = createPool({ connectionString: db.url, max: 5 });
    tracing.worker?.tracePool(pool);
    const settings: Partial<WorkerOptions> = tracing.worker?.workerOptions ?? {};
    const worker = await createOrderWorker({ connection: workerConnection, taskQueue, workflowBundle: bundle, pool, settings });
    const running = worker.run();
    try {
      await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
      const body = { customerId: ids.account, items: [{ sku: ids.sku, quantity: 2, unitPriceCents: 1_999 }] };
      const answer = await app.inject({ method: 'POST', url: '/orders', payload: body, headers: { 'idempotency-key': ids.message, ...headers } });
      expect(answer.statusCode).toBe(202);
      await client.workflow.getHandle(workflowIdFor(ids.message)).result();
      const { rows } = await db.pool.query<{ status: string }>('select status from orders where id = $1', [ids.message]);
      expect(rows[0]?.status).toBe('CONFIRMED');
    } finally {
      // Shut down and drained: every span the workflow made has gone through the sink.
      worker.shutdown();
      await running;
      await app.close();
      await pool.end();
    }
    const history = await client.workflow.getHandle(workflowIdFor(ids.message)).fetchHistory();
    return { ids, history };
  }

  it('one trace spans the API request, the workflow start, the workflow, each activity and its SQL', async () => {
    const [api, worker] = await Promise.all([startTracing('api', otel, { spanProcessor }), startTracing('worker', otel, { spanProcessor })]);
    // A caller that traces already: the request continues its trace.
    const upstream = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const { history } = await placeOrder({ api, worker }, { traceparent: `00-${upstream.traceId}-${upstream.spanId}-01` });

    const spans = exporter.getFinishedSpans();
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([upstream.traceId]));
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const named = (name: string) => spans.filter((s) => s.name === name);
    const one = (name: string) => {
      const found = named(name);
      expect(found, name).toHaveLength(1);
      return found[0]!;
    };
    const parentOf = (span: ReadableSpan) => byId.get(span.parentSpanId ?? '');
    const service = (span: ReadableSpan) => span.resource.attributes['service.name'];

    const request = one('POST /orders');
    expect(request.parentSpanId).toBe(upstream.spanId);
    expect(service(request)).toBe('api');
    const start = one('StartWorkflow:orderSaga');
    expect([parentOf(start), service(start)]).toEqual([request, 'api']);
    const run = one('RunWorkflow:orderSaga');
    expect([parentOf(run), service(run)]).toEqual([start, 'worker']);
    // The API's own SQL (the processed_messages claim) is part of the request.
    expect(spans.some((s) => parentOf(s) === request && s.attributes['db.statement']?.toString().includes('processed_messages'))).toBe(true);

    for (const step of steps) {
      const scheduled = one(`StartActivity:${step}`);
      expect(parentOf(scheduled), step).toBe(run);
      const executed = one(`RunActivity:${step}`);
      expect([parentOf(executed), service(executed)], step).toEqual([scheduled, 'worker']);
      const sql = spans.filter((s) => parentOf(s) === executed);
      expect(sql.length, `${step} made no SQL span`).toBeGreaterThan(0);
      expect(sql.every((s) => s.attributes['db.system'] === 'postgresql' && service(s) === 'worker')).toBe(true);
    }
    const debitSql = spans.filter((s) => parentOf(s) === one('RunActivity:debitAccount')).map((s) => String(s.attributes['db.statement']));
    expect(debitSql.some((text) => /update accounts/i.test(text))).toBe(true);

    // The trace travelled in the start's headers, and the traced history still replays on the same bundle.
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(Object.keys(started?.header?.fields ?? {})).toContain('_tracer-data');
    await Worker.runReplayHistory({ workflowBundle: bundle, sinks: worker!.workerOptions.sinks }, history);
  });

  it('a Kafka record carrying a traceparent continues that trace into the start; a malformed one starts a trace of its own', async () => {
    const consumer = (await startTracing('consumer', otel, { spanProcessor }))!;
    exporter.reset();
    const ids = uniqueIds('kafka-trace');
    const kafka = new Kafka({ brokers: inject('kafkaBrokers'), clientId: 'trace-test', logLevel: logLevel.NOTHING });
    const [topic, dlq] = [`trace-${randomUUID()}`, `trace-dlq-${randomUUID()}`];
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic }, { topic: dlq }], waitForLeaders: true });
    await admin.disconnect();
    const upstream = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') };
    const [traced, garbled] = [`${ids.message}-traced`, `${ids.message}-garbled`];
    const value = (messageId: string) => JSON.stringify({ messageId, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        { value: value(traced), headers: { traceparent: `00-${upstream.traceId}-${upstream.spanId}-01` } },
        { value: value(garbled), headers: { traceparent: `00-${upstream.traceId}-zz-01`, tracestate: 'x'.repeat(10_000) } },
      ],
    });
    await producer.disconnect();

    // Starting is all this needs: no worker polls the queue.
    const client = new Client({ connection, interceptors: consumer.clientInterceptors });
    const taskQueue = `trace-${ids.tag}`;
    const intake = new OrderIntake({
      kafka,
      pool: db.pool,
      groupId: `trace-${ids.tag}`,
      topic,
      deadLetterTopic: dlq,
      logger: quietLogger,
      start: tracedStart(consumer, (request) => startOrder({ client, pool: db.pool, taskQueue }, request, 'kafka'), topic),
    });
    await intake.start();
    const processSpans = () => exporter.getFinishedSpans().filter((s) => s.name === `${topic} process`);
    try {
      for (let i = 0; processSpans().length < 2; i++) {
        if (i > 600) throw new Error('the consumer never processed both records');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await intake.stop();
    }
    const spans = exporter.getFinishedSpans();
    const processing = (messageId: string) => processSpans().find((s) => s.attributes['messaging.message.id'] === messageId)!;
    const startOf = (parent: ReadableSpan) => spans.find((s) => s.name === 'StartWorkflow:orderSaga' && s.parentSpanId === parent.spanContext().spanId);

    const continued = processing(traced);
    expect([continued.spanContext().traceId, continued.parentSpanId]).toEqual([upstream.traceId, upstream.spanId]);
    expect(startOf(continued)?.spanContext().traceId).toBe(upstream.traceId);
    const fresh = processing(garbled);
    expect(fresh.spanContext().traceId).not.toBe(upstream.traceId);
    expect(fresh.parentSpanId).toBeUndefined();
    expect(startOf(fresh)?.spanContext().traceId).toBe(fresh.spanContext().traceId);
  });

  it('with tracing off no span is made, though a tracer provider is registered in this process', async () => {
    const off = await startTracing('api', {}, { spanProcessor });
    expect(off).toBeUndefined();
    exporter.reset();
    const { history } = await placeOrder({});
    expect(exporter.getFinishedSpans()).toEqual([]);
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    expect(Object.keys(started?.header?.fields ?? {})).not.toContain('_tracer-data');
  });

  it('with tracing off a process loads none of the OpenTelemetry SDK or the Temporal interceptors; on, it does', () => {
    const loadedWith = (endpoint: string) => {
      const script = `
        require('./api/app'); require('./consumer/intake'); require('./worker/create-worker');
        require('./tracing').startTracing('worker', { OTEL_EXPORTER_OTLP_ENDPOINT: process.env.OTEL_EXPORTER_OTLP_ENDPOINT }).then(async (t) => {
          const loaded = Object.keys(require.cache).filter((f) => /@opentelemetry[\\\\/](sdk|exporter|context|resources)|interceptors-opentelemetry/.test(f));
          process.stdout.write(JSON.stringify({ on: t !== undefined, loaded: loaded.length }));
          await t?.shutdown();
        });`;
      const out = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: endpoint },
      });
      expect(out.status, out.stderr).toBe(0);
      return JSON.parse(out.stdout) as { on: boolean; loaded: number };
    };
    expect(loadedWith('')).toEqual({ on: false, loaded: 0 });
    const on = loadedWith(otel.OTEL_EXPORTER_OTLP_ENDPOINT);
    expect(on.on).toBe(true);
    expect(on.loaded).toBeGreaterThan(0);
  });

  it('a collector that does not answer costs spans, not requests: the API answers and shutdown returns', async () => {
    const unreachable = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}` };
    const tracing = await startTracing('api', unreachable);
    const config = loadConfig({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, LOG_LEVEL: 'silent', ...unreachable });
    const app = await buildApp(config, { logger: false, tracing });
    try {
      expect((await app.inject({ method: 'GET', url: '/orders/no-such-order' })).statusCode).toBe(404);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
    await expect(tracing!.shutdown()).resolves.toBeUndefined();
  });

  it('a bad collector address is refused at start, naming the variable', () => {
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' })).toThrow(/^invalid OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4318": /);
  });
});
