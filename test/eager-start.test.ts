import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../api/app';
import { loadConfig, type Config } from '../config';
import { workflowIdFor } from '../domain/order';
import { describeDeployment } from '../fleet/deployments';
import { createLogger } from '../lib/logger';
import { runOrderWorker, type RunningWorker } from '../worker/order-worker';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { createDevServer } from './helpers/dev-server';
import { assertInvariants } from './helpers/invariants';
import { parsePrometheus, valueOf } from './helpers/prometheus';
import { seed, uniqueIds } from './helpers/seed';

const silent = createLogger({ name: 'test', level: 'silent' });

/** INTAKE_LAYOUT=worker: the API process runs the only order worker, and starts sagas eagerly on it. */
describe.each(['off', 'pinned'] as const)('the eager layout, worker versioning %s: an API with its own worker', (versioning) => {
  let db: TestDatabase;
  let server: Awaited<ReturnType<typeof createDevServer>>;
  let worker: RunningWorker;
  let app: FastifyInstance;
  let client: Client;
  let config: Config;

  beforeAll(async () => {
    [db, server] = await Promise.all([createTestDatabase(), createDevServer()]);
    config = loadConfig({
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TASK_QUEUE: `orders-${randomUUID().slice(0, 8)}`,
      INTAKE_LAYOUT: 'worker',
      WORKER_VERSIONING: versioning,
      WORKER_DEPLOYMENT_NAME: `eager-${randomUUID().slice(0, 8)}`,
      WORKER_NAME: 'api',
      LOG_LEVEL: 'silent',
    });
    worker = await runOrderWorker(config, silent);
    app = await buildApp(config, { logger: false, workerConnection: worker.connection });
    client = new Client({ connection: await Connection.connect({ address: server.address }) });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await worker?.shutdown();
    await client?.connection.close();
    await server?.stop();
    await db?.drop();
  });

  const eagerStarts = async (saga: string) =>
    valueOf(parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body), 'sagas_eager_starts_total', { saga });
  const post = (url: string, payload: object, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, payload, headers });

  it('orders start eagerly and answer CONFIRMED within the wait; copies start nothing; a refund starts eagerly too', { timeout: 120_000 }, async () => {
    if (versioning === 'pinned') {
      // The worker makes its build current a moment after its first poll; until then a start is not pinned to it
      // (on a loaded machine the eager starts below could come first).
      const deployment = { connection: client.connection, namespace: 'default', deploymentName: config.WORKER_DEPLOYMENT_NAME };
      await vi.waitFor(async () => expect((await describeDeployment(deployment))?.currentBuildId).toBe(worker.buildId), { timeout: 60_000, interval: 250 });
      await vi.waitFor(
        async () => {
          const ids = uniqueIds('eager-warm');
          await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
          await post(
            '/orders',
            { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] },
            { 'idempotency-key': ids.message, prefer: 'wait=5' },
          );
          expect(await eagerStarts('order')).toBeGreaterThan(0);
        },
        { timeout: 60_000, interval: 500 },
      );
    }
    const before = await eagerStarts('order');
    const orders = Array.from({ length: 5 }, () => uniqueIds('eager'));
    for (const ids of orders) {
      await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
      const body = { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 1_000 }] };
      const answer = await post('/orders', body, { 'idempotency-key': ids.message, prefer: 'wait=5' });
      expect({ code: answer.statusCode, status: answer.json<{ status: string }>().status }).toEqual({ code: 200, status: 'CONFIRMED' });
      expect((await post('/orders', body, { 'idempotency-key': ids.message })).json()).toMatchObject({ duplicate: true, status: 'CONFIRMED' });
    }
    expect((await eagerStarts('order')) - before).toBe(5);

    if (versioning === 'pinned') {
      for (const ids of orders) {
        const info = (await client.workflow.getHandle(workflowIdFor(ids.message)).describe()).raw.workflowExecutionInfo?.versioningInfo;
        expect({ behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId }).toEqual({
          behavior: temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED,
          buildId: worker.buildId,
        });
      }
    }

    const refund = await post(`/orders/${orders[0]!.message}/refunds`, { refundId: `r-${randomUUID()}`, amountCents: 400 });
    expect(refund.statusCode).toBe(202);
    expect(await eagerStarts('refund')).toBe(1);
    await vi.waitFor(
      async () => expect((await app.inject({ method: 'GET', url: `/orders/${orders[0]!.message}` })).json()).toMatchObject({ refundedCents: 400 }),
      {
        timeout: 20_000,
      },
    );
    await assertInvariants(db.pool);
  });
});
