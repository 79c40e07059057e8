import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { loadConfig, type Config } from '../../config';
import { migrate } from '../../db/migrate';
import { createPool } from '../../db/pool';
import { redactUrl } from '../../lib/redact';
import { createKafka, ensureTopics, topicSpecs } from '../../messaging/topics';
import { startApi, startConsumer, startWorker } from './apps';
import { assertPortFree, closeSpawning, readToolchain, repoRoot, StackError, startKafka, startPostgres, startTemporal, type ManagedProcess } from './servers';
import { planFaultLinks, startFaultLinks, viaProxy } from './fault-links';
import { assertInternalPortsFree, clusterLines, startReplicatedServers, type ReplicatedServers } from './replicated';
import { Supervisor, type Service } from './supervisor';
import { embeddedNodes, startTopologyFile } from './topology';
import { startTemporalPostgres, startTemporalUi, temporalInternalPorts, temporalServerBins } from './temporal-postgres';

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const wholeNumber = (fallback: number, min: number, max: number) => {
  const expected = `expected a whole number from ${min} to ${max}`;
  return z.coerce.number({ error: expected }).int(expected).min(min, expected).max(max, expected).default(fallback);
};
const stackSchema = z.object({
  STACK_DIR: z.string().default(path.join(repoRoot, '.stack')),
  PG_PORT: port(5432),
  KAFKA_PORT: port(9092),
  KAFKA_CONTROLLER_PORT: port(9093),
  TEMPORAL_PORT: port(7233),
  TEMPORAL_UI_PORT: port(8233),
  TEMPORAL_PERSISTENCE: z.enum(['sqlite', 'postgres']).default('sqlite'),
  /** replicated: three Kafka nodes, two Temporal servers behind nginx, PostgreSQL with a synchronous standby and Patroni. */
  TOPOLOGY: z.enum(['embedded', 'replicated']).default('embedded'),
  /** The replicated topology's internal ports (etcd, Patroni, the PostgreSQL, Kafka and Temporal nodes) start here. */
  STACK_INTERNAL_PORT_BASE: wholeNumber(15400, 1024, 32700),
  STACK_MAX_RESTARTS: wholeNumber(5, 0, 1000),
  STACK_RESTART_WINDOW_SECONDS: wholeNumber(120, 1, 86_400),
  /** Worker processes on the task queue; `npm run worker` adds more anywhere. */
  WORKERS: wholeNumber(1, 1, 32),
  /** 1: every app reaches PostgreSQL, Temporal and Kafka through a Toxiproxy (chaos injects network faults there). */
  STACK_FAULT_PROXY: z.enum(['0', '1']).default('0'),
});

/** Aborted once the stack stops (Ctrl-C, SIGTERM, a crash loop or a failed start). */
const stopped = new AbortController();
/** Every server the stack started, with how to start it again. */
const launched: [Service, ManagedProcess][] = [];

async function launch<T extends ManagedProcess>(start: () => Promise<T>): Promise<T> {
  const proc = await start();
  launched.push([{ name: proc.name, logFile: proc.logFile, start }, proc]);
  return proc;
}

const appStopOrder = ['api', 'consumer', 'worker'];
/** `worker-2` stops with the workers. */
const appOf = (name: string) => appStopOrder.find((app) => name === app || name.startsWith(`${app}-`));

async function stopAll(): Promise<void> {
  const procs = closeSpawning();
  // Apps first (API before the workers, which drain together), so nothing talks to a server that is going away; then the servers together.
  for (const app of appStopOrder) await Promise.all(procs.filter((p) => appOf(p.name) === app).map((p) => p.stop()));
  await Promise.all(procs.filter((p) => !appOf(p.name)).map((p) => p.stop()));
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

/** Blank values count as unset, as in config.ts. */
function parseStackEnv(env: NodeJS.ProcessEnv): z.infer<typeof stackSchema> {
  const parsed = stackSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')));
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = String(issue.path[0]);
  throw new StackError(`invalid ${name}=${JSON.stringify(env[name] ?? '')}: ${issue.message}; fix it or unset ${name} to use the default`);
}

async function main(): Promise<void> {
  const stack = parseStackEnv(process.env);
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

  const workerNames = stack.WORKERS === 1 ? ['worker'] : Array.from({ length: stack.WORKERS }, (_, i) => `worker-${i + 1}`);
  const metricsUrls = metricsEndpoints(config, workerNames);
  const ports: [number, string][] = [
    [config.API_PORT, 'API_PORT'],
    ...metricsUrls.flatMap(({ port, variable }): [number, string][] => (port ? [[port, variable]] : [])),
  ];
  if (!external.temporal) ports.push([stack.TEMPORAL_PORT, 'TEMPORAL_PORT'], [stack.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT']);
  if (!external.postgres) ports.push([stack.PG_PORT, 'PG_PORT']);
  if (!external.kafka) ports.push([stack.KAFKA_PORT, 'KAFKA_PORT'], [stack.KAFKA_CONTROLLER_PORT, 'KAFKA_CONTROLLER_PORT']);
  for (const [p, variable] of ports) await assertPortFree(p, variable);
  const replicated = stack.TOPOLOGY === 'replicated';
  if (replicated) {
    if (external.temporal || external.postgres || external.kafka) {
      throw new StackError("TOPOLOGY=replicated runs the stack's own clusters; unset TEMPORAL_ADDRESS, DATABASE_URL and KAFKA_BROKERS");
    }
    if (stack.STACK_FAULT_PROXY === '1') throw new StackError('STACK_FAULT_PROXY=1 is for the embedded topology; unset it or TOPOLOGY');
    await assertInternalPortsFree(stack.STACK_INTERNAL_PORT_BASE);
  }

  const toolchain = readToolchain(stack.STACK_DIR);
  const t0 = Date.now();
  const faultPlan = stack.STACK_FAULT_PROXY === '1' ? await planFaultLinks() : undefined;
  if (faultPlan && (external.temporal || external.postgres || external.kafka)) {
    throw new StackError("STACK_FAULT_PROXY=1 proxies the stack's own servers; unset TEMPORAL_ADDRESS, DATABASE_URL and KAFKA_BROKERS");
  }
  if (faultPlan && !toolchain.TOXIPROXY_BIN) throw new StackError('STACK_FAULT_PROXY=1 needs Toxiproxy; run: npm run toolchain');

  const starts: Promise<void>[] = [];
  let temporalAddress = config.TEMPORAL_ADDRESS;
  let uiUrl = 'external (see your Temporal deployment)';
  let databaseUrl = config.DATABASE_URL;
  let brokers = config.KAFKA_BROKERS;
  let postgresUp: Promise<void> = Promise.resolve();
  let clusters: ReplicatedServers | undefined;
  if (replicated) {
    clusters = await startReplicatedServers({
      toolchain,
      stackDir: stack.STACK_DIR,
      logDir,
      namespace: config.TEMPORAL_NAMESPACE,
      database: 'orders',
      ports: {
        pg: stack.PG_PORT,
        kafka: stack.KAFKA_PORT,
        kafkaController: stack.KAFKA_CONTROLLER_PORT,
        temporal: stack.TEMPORAL_PORT,
        ui: stack.TEMPORAL_UI_PORT,
      },
      internalBase: stack.STACK_INTERNAL_PORT_BASE,
    });
    launched.push(...clusters.supervised);
    ({ databaseUrl, temporalAddress, uiUrl, brokers } = clusters);
  } else if (!external.postgres) {
    const options = {
      pgBin: toolchain.PG_BIN,
      dataDir: path.join(stack.STACK_DIR, 'postgres'),
      port: stack.PG_PORT,
      database: 'orders',
      logFile: path.join(logDir, 'postgres.log'),
    };
    postgresUp = launch(() => startPostgres(options)).then((p) => void (databaseUrl = p.url));
    starts.push(postgresUp);
  }
  if (replicated) {
    // Started above, every cluster at once.
  } else if (!external.temporal && stack.TEMPORAL_PERSISTENCE === 'postgres') {
    if (external.postgres) throw new StackError("TEMPORAL_PERSISTENCE=postgres runs Temporal on the stack's own PostgreSQL; unset DATABASE_URL");
    const bins = temporalServerBins();
    const options = {
      bins,
      dataDir: path.join(stack.STACK_DIR, 'temporal-server'),
      pgPort: stack.PG_PORT,
      ports: await temporalInternalPorts(stack.TEMPORAL_PORT),
      namespace: config.TEMPORAL_NAMESPACE,
      logFile: path.join(logDir, 'temporal.log'),
    };
    starts.push(
      postgresUp.then(async () => {
        const server = await launch(() => startTemporalPostgres(options));
        const ui = { bin: bins.ui, dataDir: options.dataDir, address: server.address, uiPort: stack.TEMPORAL_UI_PORT, namespace: options.namespace };
        uiUrl = (await launch(() => startTemporalUi({ ...ui, logFile: path.join(logDir, 'temporal-ui.log') }))).uiUrl;
        temporalAddress = server.address;
      }),
    );
  } else if (!external.temporal) {
    const options = {
      temporalBin: toolchain.TEMPORAL_BIN,
      dbFile: path.join(stack.STACK_DIR, 'temporal', 'temporal.db'),
      port: stack.TEMPORAL_PORT,
      uiPort: stack.TEMPORAL_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
      logFile: path.join(logDir, 'temporal.log'),
    };
    starts.push(
      launch(() => startTemporal(options)).then((t) => {
        temporalAddress = t.address;
        uiUrl = t.uiUrl;
      }),
    );
  }
  if (!external.kafka && !replicated) {
    const options = {
      libs: toolchain.KAFKA_LIBS,
      dataDir: path.join(stack.STACK_DIR, 'kafka'),
      port: stack.KAFKA_PORT,
      controllerPort: stack.KAFKA_CONTROLLER_PORT,
      logFile: path.join(logDir, 'kafka.log'),
      ...(faultPlan ? { proxied: { port: faultPlan.kafkaPort, advertised: faultPlan.listen['consumer-kafka'] } } : {}),
    };
    starts.push(launch(() => startKafka(options)).then((k) => void (brokers = k.brokers)));
  }
  const results = await Promise.allSettled(starts);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;

  const pool = createPool({ connectionString: databaseUrl, max: 2 });
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  const replicationFactor = replicated ? 3 : config.KAFKA_REPLICATION_FACTOR;
  await ensureTopics(createKafka({ brokers, clientId: 'saga-orchestrator-stack' }), topicSpecs({ replicationFactor }));

  const apps = {
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: brokers.join(','),
      KAFKA_REPLICATION_FACTOR: String(replicationFactor),
    },
    logDir,
  };
  /** Each app's view of the servers: the real addresses, or its links' proxies. */
  const linked = (app: 'worker' | 'api' | 'consumer'): NodeJS.ProcessEnv => {
    if (!faultPlan) return apps.env;
    const listen = faultPlan.listen;
    return {
      ...apps.env,
      TEMPORAL_ADDRESS: listen[`${app}-temporal`],
      ...(app === 'consumer' ? { KAFKA_BROKERS: listen['consumer-kafka'] } : { DATABASE_URL: viaProxy(databaseUrl, listen[`${app}-postgres`]) }),
    };
  };
  if (faultPlan) {
    const links = { bin: toolchain.TOXIPROXY_BIN!, logFile: path.join(logDir, 'toxiproxy.log'), stackDir: stack.STACK_DIR, plan: faultPlan };
    await launch(() => startFaultLinks({ ...links, postgres: new URL(databaseUrl).host, temporal: temporalAddress }));
  }
  const worker = { ...apps, temporalAddress, namespace: config.TEMPORAL_NAMESPACE, taskQueue: config.TEMPORAL_TASK_QUEUE };
  // Pinned by default: a saga finishes on the build that started it; a restart with changed code takes over an idle build.
  const versioning = {
    WORKER_VERSIONING: process.env.WORKER_VERSIONING || 'pinned',
    WORKER_DEPLOYMENT_PROMOTE: process.env.WORKER_DEPLOYMENT_PROMOTE || 'when-current-idle',
  };
  const workerEnv = (name: string) => ({
    ...linked('worker'),
    ...versioning,
    WORKER_METRICS_PORT: String(metricsUrls.find((m) => m.process === name)?.port ?? 0),
  });
  // INTAKE_LAYOUT=worker: the API also runs an order worker of the same build, and starts sagas eagerly on it.
  const intakeEnv = (name: 'api' | 'consumer') => (config.INTAKE_LAYOUT === 'worker' ? { ...linked(name), ...versioning } : linked(name));
  const apiEnv = intakeEnv('api');
  const supervisor = new Supervisor({
    maxRestarts: stack.STACK_MAX_RESTARTS,
    windowSeconds: stack.STACK_RESTART_WINDOW_SECONDS,
    signal: stopped.signal,
    onCrashLoop: (message) => {
      process.stderr.write(`error: ${message}\n`);
      void shutdown(1);
    },
  });
  // The servers are up: from here on one that exits is restarted.
  for (const [service, proc] of launched) supervisor.watch(service, proc);
  // Apps are watched from their first start: one that dies while its siblings start is started again, not the end of the stack.
  const app = (name: string, start: () => Promise<ManagedProcess>) => ({ name, logFile: path.join(logDir, `${name}.log`), start });
  const appProcs = await Promise.all([
    ...workerNames.map((name) => supervisor.run(app(name, () => startWorker({ ...worker, env: workerEnv(name), name })))),
    supervisor.run(app('consumer', () => startConsumer({ ...apps, env: intakeEnv('consumer') }))),
    supervisor.run(app('api', () => startApi({ ...apps, env: apiEnv, port: config.API_PORT }))),
  ]);
  if (stopped.signal.aborted) return;
  const pidOf = (name: string) => appProcs.find((proc) => proc.name === name)?.child.pid;
  const entryPoints = {
    api: `http://${config.API_HOST}:${config.API_PORT}`,
    temporal: temporalAddress,
    temporalUi: uiUrl,
    kafkaBootstrap: brokers[0] ?? '',
    postgres: redactUrl(databaseUrl),
  };
  const topology = await startTopologyFile({
    stackDir: stack.STACK_DIR,
    topology: stack.TOPOLOGY,
    entryPoints,
    servers: () =>
      clusters?.nodes() ?? embeddedNodes(launched, { pg: stack.PG_PORT, kafka: stack.KAFKA_PORT, temporal: stack.TEMPORAL_PORT, ui: stack.TEMPORAL_UI_PORT }),
    running: () => supervisor.current(),
    appPorts: (name) => {
      const metrics = metricsUrls.find((m) => m.process === name)?.port;
      return { ...(name === 'api' ? { http: config.API_PORT } : {}), ...(metrics ? { metrics } : {}) };
    },
    leaders: clusters?.leaders.bind(clusters),
    signal: stopped.signal,
  });

  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  process.stdout.write(
    [
      '',
      `saga-orchestrator is up (${seconds}s)`,
      `  API                 http://${config.API_HOST}:${config.API_PORT}   (docs: /docs, health: /healthz)`,
      ...(config.INTAKE_LAYOUT === 'worker'
        ? ['  intake layout       worker: the API and the consumer run an order worker too and start sagas eagerly on it']
        : []),
      `  Temporal            ${temporalAddress}   namespace ${config.TEMPORAL_NAMESPACE}, task queue ${config.TEMPORAL_TASK_QUEUE}`,
      `  Temporal Web UI     ${uiUrl}`,
      `  workers             ${workerNames.length} on task queue ${config.TEMPORAL_TASK_QUEUE}: ${workerNames.map((name) => `${name} (pid ${pidOf(name)})`).join(', ')}`,
      ...metricsUrls.map(({ process, url }, i) => `  ${i === 0 ? 'metrics            ' : '                   '} ${url ?? 'off'}   (${process})`),
      `  Kafka bootstrap     ${brokers.join(',')}`,
      `  DATABASE_URL        ${redactUrl(databaseUrl)}`,
      `  logs                ${logDir}`,
      ...(replicated ? [`  topology            ${topology.file}   (npm run saga -- topology)`, ...clusterLines(clusters!)] : []),
      'Ctrl-C (or SIGTERM to npm start) stops everything; a process that exits is restarted. Data is kept in ' + stack.STACK_DIR,
      '',
    ].join('\n'),
  );
}

/**
 * Where each app serves Prometheus metrics: the API on its own port, the consumer on CONSUMER_METRICS_PORT,
 * and worker n of a fleet on WORKER_METRICS_PORT + n - 1. A port of 0 serves none.
 */
function metricsEndpoints(config: Config, workerNames: string[]): { process: string; port?: number; variable: string; url?: string }[] {
  const at = (port: number) => (port > 0 ? `http://${config.METRICS_HOST}:${port}/metrics` : undefined);
  const base = config.WORKER_METRICS_PORT;
  return [
    { process: 'api', variable: 'API_PORT', url: `http://${config.API_HOST}:${config.API_PORT}/metrics` },
    { process: 'consumer', port: config.CONSUMER_METRICS_PORT, variable: 'CONSUMER_METRICS_PORT', url: at(config.CONSUMER_METRICS_PORT) },
    ...workerNames.map((name, i) => {
      const port = base > 0 ? base + i : 0;
      if (port > 65535) throw new StackError(`WORKER_METRICS_PORT=${base} leaves no port for ${name}; lower it or set 0 for none`);
      return { process: name, port, variable: i === 0 ? 'WORKER_METRICS_PORT' : `WORKER_METRICS_PORT (+${i} for ${name})`, url: at(port) };
    }),
  ];
}

async function shutdown(code: number): Promise<void> {
  if (stopped.signal.aborted) return;
  stopped.abort();
  await stopAll();
  if (code === 0) process.stdout.write('saga-orchestrator stopped: every process it started has exited\n');
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

main().catch((err: unknown) => {
  // After a Ctrl-C, whatever was still starting fails; shutdown() is already stopping it all.
  if (stopped.signal.aborted) return;
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1);
});
