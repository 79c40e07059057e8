import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';
import { loadConfig, ConfigError } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { createKafka, ensureTopics } from '../messaging/topics';
import {
  assertPortFree,
  readToolchain,
  repoRoot,
  spawnManaged,
  StackError,
  startKafka,
  startPostgres,
  startTemporal,
  waitUntil,
  type ManagedProcess,
} from './servers';

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const stackSchema = z.object({
  STACK_DIR: z.string().default(path.join(repoRoot, '.stack')),
  PG_PORT: port(5432),
  KAFKA_PORT: port(9092),
  KAFKA_CONTROLLER_PORT: port(9093),
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
});

const started: ManagedProcess[] = [];
/** Servers still starting; a shutdown waits for them so none is left behind. */
const starting: Promise<unknown>[] = [];
let stopping = false;

const serverNames = new Set(['temporal', 'postgres', 'kafka']);

async function stopAll(): Promise<void> {
  // Apps first (API before worker), so nothing talks to a server that is going away; then the servers together.
  for (const proc of [...started].reverse().filter((p) => !serverNames.has(p.name))) await proc.stop();
  await Promise.all(started.filter((p) => serverNames.has(p.name)).map((p) => p.stop()));
}

function acquireLock(lockFile: string): void {
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8'));
    if (pid && isAlive(pid)) {
      throw new StackError(`the stack is already running (pid ${pid}); stop it with Ctrl-C there or: kill ${pid}`);
    }
  }
  writeFileSync(lockFile, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function nodeApp(name: string, entry: string, env: NodeJS.ProcessEnv, logDir: string): ManagedProcess {
  return spawnManaged({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, entry)],
    env,
    logFile: path.join(logDir, `${name}.log`),
  });
}

async function main(): Promise<void> {
  const stack = stackSchema.parse(process.env);
  const external = {
    temporal: Boolean(process.env.TEMPORAL_ADDRESS),
    postgres: Boolean(process.env.DATABASE_URL),
    kafka: Boolean(process.env.KAFKA_BROKERS),
  };
  const config = loadConfig(process.env);
  mkdirSync(stack.STACK_DIR, { recursive: true });
  const logDir = path.join(stack.STACK_DIR, 'logs');
  const lockFile = path.join(stack.STACK_DIR, 'stack.pid');
  acquireLock(lockFile);
  process.once('exit', () => rmSync(lockFile, { force: true }));

  const ports: [number, string][] = [[config.API_PORT, 'API_PORT']];
  if (!external.temporal) ports.push([stack.TEMPORAL_PORT, 'TEMPORAL_PORT'], [stack.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT']);
  if (!external.postgres) ports.push([stack.PG_PORT, 'PG_PORT']);
  if (!external.kafka) ports.push([stack.KAFKA_PORT, 'KAFKA_PORT'], [stack.KAFKA_CONTROLLER_PORT, 'KAFKA_CONTROLLER_PORT']);
  for (const [p, variable] of ports) await assertPortFree(p, variable);

  const toolchain = readToolchain(stack.STACK_DIR);
  const t0 = Date.now();

  const starts: Promise<void>[] = [];
  let temporalAddress = config.TEMPORAL_ADDRESS;
  let uiUrl = 'external (see your Temporal deployment)';
  let databaseUrl = config.DATABASE_URL;
  let brokers = config.KAFKA_BROKERS;
  if (!external.temporal) {
    starts.push(
      startTemporal({
        temporalBin: toolchain.TEMPORAL_BIN,
        dbFile: path.join(stack.STACK_DIR, 'temporal', 'temporal.db'),
        port: stack.TEMPORAL_PORT,
        uiPort: stack.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        logFile: path.join(logDir, 'temporal.log'),
      }).then((t) => {
        started.push(t);
        temporalAddress = t.address;
        uiUrl = t.uiUrl;
      }),
    );
  }
  if (!external.postgres) {
    starts.push(
      startPostgres({
        pgBin: toolchain.PG_BIN,
        dataDir: path.join(stack.STACK_DIR, 'postgres'),
        port: stack.PG_PORT,
        database: 'orders',
        logFile: path.join(logDir, 'postgres.log'),
      }).then((p) => {
        started.push(p);
        databaseUrl = p.url;
      }),
    );
  }
  if (!external.kafka) {
    starts.push(
      startKafka({
        libs: toolchain.KAFKA_LIBS,
        dataDir: path.join(stack.STACK_DIR, 'kafka'),
        port: stack.KAFKA_PORT,
        controllerPort: stack.KAFKA_CONTROLLER_PORT,
        logFile: path.join(logDir, 'kafka.log'),
      }).then((k) => {
        started.push(k);
        brokers = k.brokers;
      }),
    );
  }
  starting.push(...starts);
  const results = await Promise.allSettled(starts);
  if (stopping) return;
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;

  const pool = createPool({ connectionString: databaseUrl, max: 2 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  await ensureTopics(createKafka({ brokers, clientId: 'saga-orchestrator-stack' }));

  const appEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporalAddress,
    DATABASE_URL: databaseUrl,
    KAFKA_BROKERS: brokers.join(','),
  };
  started.push(nodeApp('worker', 'worker/main.ts', appEnv, logDir));
  started.push(nodeApp('consumer', 'consumer/main.ts', appEnv, logDir));
  const api = nodeApp('api', 'api/server.ts', appEnv, logDir);
  started.push(api);
  await waitUntil(
    `API on :${config.API_PORT}`,
    async () => {
      if (api.child.exitCode !== null) throw new StackError(`the API exited; see ${api.logFile}`);
      return (await fetch(`http://127.0.0.1:${config.API_PORT}/healthz`)).ok;
    },
    60_000,
  );
  await waitForWorker(temporalAddress, config.TEMPORAL_NAMESPACE, config.TEMPORAL_TASK_QUEUE, started.find((p) => p.name === 'worker')!);
  for (const proc of started) {
    void proc.exited.then((code) => {
      if (stopping) return;
      process.stderr.write(`error: ${proc.name} exited with code ${code}; see ${proc.logFile}. Stopping the stack.\n`);
      void shutdown(1);
    });
  }

  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  process.stdout.write(
    [
      '',
      `saga-orchestrator is up (${seconds}s)`,
      `  API                 http://${config.API_HOST}:${config.API_PORT}   (docs: /docs, health: /healthz)`,
      `  Temporal            ${temporalAddress}   namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE}`,
      `  Temporal Web UI     ${uiUrl}`,
      `  Kafka bootstrap     ${brokers.join(',')}`,
      `  DATABASE_URL        ${databaseUrl}`,
      `  logs                ${logDir}`,
      'Ctrl-C stops everything; data is kept in ' + stack.STACK_DIR,
      '',
    ].join('\n'),
  );
}

/** "Up" means a worker polls the task queue; it bundles the workflow code first, which takes a few seconds. */
async function waitForWorker(address: string, namespace: string, taskQueue: string, worker: ManagedProcess): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    await waitUntil(
      `a worker polling task queue ${taskQueue}`,
      async () => {
        if (worker.child.exitCode !== null) throw new StackError(`the worker exited; see ${worker.logFile}`);
        const { pollers } = await connection.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name: taskQueue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        return (pollers?.length ?? 0) > 0;
      },
      120_000,
    );
  } finally {
    await connection.close();
  }
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.allSettled(starting);
  await stopAll();
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch(async (err: unknown) => {
  const message =
    err instanceof StackError || err instanceof ConfigError
      ? err.message
      : err instanceof z.ZodError
        ? `invalid ${String(err.issues[0]?.path[0])}: ${err.issues[0]?.message}`
        : `${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`error: ${message}\n`);
  stopping = true;
  await Promise.allSettled(starting);
  await stopAll();
  process.exit(1);
});

