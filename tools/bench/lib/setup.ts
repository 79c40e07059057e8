/**
 * Brings up everything the run measures: a stack of its own (startOwnStack), the no-op reference's
 * worker, the references' database, the classic consumer, the seed rows, the producers and pollers.
 */
import { Client, Connection } from '@temporalio/client';
import { startOwnStack, type ChaosStack } from '../../chaos/stack';
import { createPool } from '../../../db/pool';
import { createKafka } from '../../../messaging/topics';
import type { BenchResults } from '../report/results';
import { spawnTs, waitForLine } from './children';
import type { BenchContext } from './context';
import { DonePoller, orderEnded } from './done-poller';
import type { Flags } from './flags';
import { classicEnv, createTopic } from './kafka';
import { createReferenceDatabase, seedReference } from './reference-db';
import { classicTarget, noopTarget, serviceTarget } from './targets';
import { waitUntilPolling } from './temporal';
import { IndexAllocator, Workload, type OrderKind } from './workload';

const BALANCE_CENTS = 1_000_000_000_000;
const STOCK = 100_000_000;

export async function seedService(apiUrl: string, workload: Workload): Promise<void> {
  const send = async (method: string, url: string, body: unknown) => {
    const response = await fetch(`${apiUrl}${url}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`seeding ${url}: HTTP ${response.status} ${await response.text()}`);
  };
  for (const id of workload.accounts) await send('POST', '/accounts', { accountId: id, openingBalanceCents: BALANCE_CENTS });
  for (const sku of workload.skus) await send('PUT', `/inventory/${sku}`, { available: STOCK });
}

export interface Setup {
  ctx: BenchContext;
  close(): Promise<void>;
}

export async function setUp(
  flags: Flags,
  results: BenchResults,
  log: (line: string) => void,
  aborted: () => boolean,
  onStack: (stack: ChaosStack) => void,
): Promise<Setup> {
  const run = `b${Date.now().toString(36)}`;
  log('starting a stack of its own on free ports (npm start in a temporary STACK_DIR) ...');
  const t0 = performance.now();
  const stack = await startOwnStack({ LOG_LEVEL: 'warn' });
  onStack(stack);
  results.stackStartSeconds = Math.round((performance.now() - t0) / 100) / 10;
  log(`  up in ${results.stackStartSeconds}s; API ${stack.apiUrl}, Temporal ${stack.temporalAddress}`);

  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const noopTaskQueue = `bench-noop-${run}`;
  const noopWorker = spawnTs('no-op worker', 'tools/bench/reference/noop-worker.ts', {
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    BENCH_NOOP_TASK_QUEUE: noopTaskQueue,
  });
  const pool = createPool({ connectionString: stack.databaseUrl, max: 4, queryTimeoutMs: 30_000 });
  const workload = new Workload(run, flags.accounts, flags.accounts);
  const classicTopic = `bench.classic.${run}`;
  const kafka = createKafka({ brokers: stack.brokers, clientId: `bench-${run}` });
  const producer = kafka.producer();

  log('seeding, starting the no-op worker and the classic consumer ...');
  const [ref] = await Promise.all([
    createReferenceDatabase(stack.databaseUrl, `bench_${run}`).then(async (db) => {
      await seedReference(db.pool, workload, BALANCE_CENTS, STOCK);
      return db;
    }),
    seedService(stack.apiUrl, workload),
    waitUntilPolling(connection, noopTaskQueue, noopWorker.pid, 180_000),
    producer.connect(),
    createTopic(stack.brokers, classicTopic),
  ]);
  const classicConsumer = spawnTs(
    'classic consumer',
    'tools/bench/reference/classic-consumer.ts',
    classicEnv({ stack, ref }, classicTopic, `bench-classic-${run}`),
  );
  await waitForLine(classicConsumer, (l) => l === 'ready', 60_000);

  const servicePoller = new DonePoller(pool, orderEnded);
  const classicPoller = new DonePoller(ref.pool, orderEnded);
  const kinds: OrderKind[] = ['service', 'noop', 'noopLocal', 'baseline', 'classic', 'intake', 'waiting', 'fault', 'eager', 'waitSeparate'];
  const ctx: BenchContext = {
    run,
    flags,
    stack,
    client,
    connection,
    pool,
    ref,
    workload,
    indexes: Object.fromEntries(kinds.map((k) => [k, new IndexAllocator()])) as Record<OrderKind, IndexAllocator>,
    targets: {
      service: serviceTarget(stack.apiUrl, client, workload, servicePoller),
      noop: noopTarget(client, noopTaskQueue, workload, 'noopSaga', 'noop'),
      noopLocal: noopTarget(client, noopTaskQueue, workload, 'noopSagaLocal', 'noopLocal'),
      classic: classicTarget(producer, classicTopic, workload, classicPoller),
    },
    servicePoller,
    producer,
    classicTopic,
    noopTaskQueue,
    noopWorkerPid: noopWorker.pid,
    results,
    log,
    aborted,
  };
  return {
    ctx,
    async close() {
      servicePoller.stop();
      classicPoller.stop();
      await classicConsumer.stop();
      await noopWorker.stop();
      await producer.disconnect().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await ref.pool.end().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
