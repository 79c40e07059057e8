import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  closeSync,
  createWriteStream,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { searchAttributes } from '../../contract/search-attributes';
import { minInsyncReplicasFor } from '../../messaging/topics';

export const repoRoot = path.resolve(__dirname, '..', '..');

/** A start-up problem the user can fix; printed as one line. */
export class StackError extends Error {
  override name = 'StackError';
}

export interface Toolchain {
  TEMPORAL_BIN: string;
  TEMPORAL_TEST_SERVER_BIN: string;
  KAFKA_LIBS: string;
  PG_BIN: string;
  /** Built for the tests and chaos only (tools/stack/toolchain.sh); empty when not built. */
  TOXIPROXY_BIN?: string;
  /** Installed for the tests and the API fuzz only; empty otherwise. */
  SCHEMATHESIS_BIN?: string;
  /** The replicated topology's servers (TOPOLOGY=replicated and the tests): Debian's Patroni, etcd, HAProxy and nginx. */
  PATRONI_BIN?: string;
  ETCD_BIN?: string;
  HAPROXY_BIN?: string;
  NGINX_BIN?: string;
}

export function readToolchain(stateDir: string): Toolchain {
  const file = path.join(stateDir, 'toolchain.env');
  if (!existsSync(file)) throw new StackError(`${file} is missing; run: npm run toolchain`);
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.includes('='))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
  const toolchain = Object.fromEntries(entries) as Partial<Toolchain>;
  for (const key of ['TEMPORAL_BIN', 'TEMPORAL_TEST_SERVER_BIN', 'KAFKA_LIBS', 'PG_BIN'] as const) {
    if (!toolchain[key] || !existsSync(toolchain[key])) {
      throw new StackError(`${key} in ${file} points nowhere; run: npm run toolchain`);
    }
  }
  return toolchain as Toolchain;
}

export async function assertPortFree(port: number, variable: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new StackError(`port ${port} is already in use; stop whatever holds it or set ${variable} to a free port`) : err),
    );
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve()));
  });
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `check` until it holds; a StackError from it is final, any other error means "not yet". */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await check().catch((err: unknown) => {
      if (err instanceof StackError) throw err;
      return false;
    });
    if (ok) return;
    await sleep(200);
  }
  throw new StackError(`${what} did not become ready within ${timeoutMs / 1000}s`);
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
  /** Where this run's output starts in the log file (earlier runs append to the same file). */
  logOffset: number;
  /** Resolves once the process's output has reached its log (at most a moment after it exits). */
  flushed: Promise<void>;
}

interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Inherit stdout/stderr instead of writing to the log file. */
  inheritOutput?: boolean;
}

/** Every process spawned here and still running, so a shutdown also finds one that is still starting. */
const running = new Set<ManagedProcess>();
let spawningClosed = false;

/** For a shutdown: refuses any further spawn, so nothing can start behind it, and returns what still runs. */
export function closeSpawning(): ManagedProcess[] {
  spawningClosed = true;
  return [...running];
}

export function spawnManaged(options: SpawnOptions): ManagedProcess {
  if (spawningClosed) throw new StackError(`not starting ${options.name}: the stack is stopping`);
  mkdirSync(path.dirname(options.logFile), { recursive: true });
  const logOffset = sizeOf(options.logFile);
  const child = spawn(options.command, options.args, {
    cwd: options.cwd ?? repoRoot,
    env: options.env ?? process.env,
    uid: options.uid,
    gid: options.gid,
    stdio: options.inheritOutput ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
  });
  let flushed = Promise.resolve();
  if (!options.inheritOutput) {
    const log = createWriteStream(options.logFile, { flags: 'a' });
    // Not ended by whichever stream closes first: stderr's last words may come after stdout's end.
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('close', () => log.end());
    flushed = new Promise((resolve) => log.once('finish', () => resolve()).once('error', () => resolve()));
  }
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  const stop = async (graceMs = 15_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const managed: ManagedProcess = { name: options.name, child, logFile: options.logFile, stop, exited, logOffset, flushed };
  running.add(managed);
  void exited.then(() => running.delete(managed));
  return managed;
}

/** Fails fast with the tail of the log when a process dies while we wait for it to serve. */
export async function waitForServer(proc: ManagedProcess, what: string, check: () => Promise<boolean>, timeoutMs: number) {
  let died = false;
  void proc.exited.then(() => (died = true));
  await waitUntil(
    what,
    async () => {
      if (died) throw new StackError(`${what} exited during start-up; see ${proc.logFile}`);
      return check();
    },
    timeoutMs,
  ).catch(async (err: unknown) => {
    await proc.stop(2_000);
    if (!died) throw err;
    const why = await exitReason(proc);
    noteInLog(proc, { exit: why }, `${proc.name} ${why} during start-up`);
    throw new StackError(`${what} ${why} during start-up (log: ${proc.logFile})`);
  });
}

/**
 * `exited (signal SIGKILL)`, or `exited (code 1): <why>` with why from the last line this run of the
 * process wrote (never an earlier run's): its `reason` (lib/exit.ts), else its message, else the text.
 */
export async function exitReason(proc: ManagedProcess): Promise<string> {
  const code = await proc.exited;
  const signal = proc.child.signalCode;
  if (signal) return `exited (signal ${signal})`;
  await Promise.race([proc.flushed, sleep(1_000)]);
  const why = lastWords(proc.logFile, proc.logOffset);
  return `exited (code ${code})${why ? `: ${why}` : ', writing nothing to its log'}`;
}

/** A line in a process's log, in its JSON, saying what the stack saw happen to it (a SIGKILL leaves no line of its own). */
export function noteInLog(proc: ManagedProcess, fields: Record<string, unknown>, msg: string): void {
  try {
    appendFileSync(
      proc.logFile,
      `${JSON.stringify({ level: 50, time: Date.now(), name: 'stack', process: proc.name, pid: proc.child.pid, ...fields, msg })}\n`,
    );
  } catch {
    // A log that cannot be written to loses this line only; the stack's own output has it too.
  }
}

const TAIL_BYTES = 64 * 1024;

export function lastWords(file: string, offset = 0): string | undefined {
  let text: string;
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const start = Math.max(offset, size - TAIL_BYTES);
      const buffer = Buffer.alloc(Math.max(0, size - start));
      readSync(fd, buffer, 0, buffer.length, start);
      text = buffer.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const line = text.trim().split('\n').at(-1)?.trim();
  return line ? summarise(line).slice(0, 300) : undefined;
}

function summarise(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: unknown; reason?: unknown; err?: { message?: unknown } };
    if (typeof entry.reason === 'string') return entry.reason;
    if (typeof entry.msg === 'string') {
      const cause = entry.err?.message;
      return typeof cause === 'string' && !entry.msg.includes(cause) ? `${entry.msg}: ${cause}` : entry.msg;
    }
  } catch {
    // Not JSON: a plain line (a server's own log, a config error).
  }
  return line;
}

function sizeOf(file: string): number {
  return existsSync(file) ? statSync(file).size : 0;
}

// ---------------------------------------------------------------- PostgreSQL

function postgresIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  // initdb and postgres refuse to run as root, so run them as Debian's postgres user.
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0) throw new StackError('no postgres user; run: apt-get install postgresql-15');
  return { uid, gid: id('-g') };
}

export interface PostgresOptions {
  pgBin: string;
  dataDir: string;
  port: number;
  logFile: string;
  database: string;
}

export async function startPostgres(options: PostgresOptions): Promise<ManagedProcess & { url: string }> {
  const ids = postgresIds();
  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    if (ids.uid !== undefined) {
      chownSync(options.dataDir, ids.uid, ids.gid!);
      const reachable = spawnSync('test', ['-w', options.dataDir], { uid: ids.uid, gid: ids.gid }).status === 0;
      if (!reachable) {
        throw new StackError(
          `the postgres user cannot reach ${options.dataDir} (a parent folder is private); set STACK_DIR to a folder it can traverse, or chmod o+x the parents`,
        );
      }
    }
    const init = spawnSync(
      path.join(options.pgBin, 'initdb'),
      ['-D', options.dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C.UTF-8'],
      { uid: ids.uid, gid: ids.gid, encoding: 'utf8' },
    );
    if (init.status !== 0) throw new StackError(`initdb failed: ${(init.stderr || init.stdout).trim().split('\n').pop()}`);
  }
  await waitForOldPostmaster(options.dataDir);
  const proc = spawnManaged({
    name: 'postgres',
    command: path.join(options.pgBin, 'postgres'),
    args: [
      '-D',
      options.dataDir,
      '-p',
      String(options.port),
      '-k',
      options.dataDir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=on',
    ],
    logFile: options.logFile,
    ...ids,
  });
  const adminUrl = `postgres://postgres@127.0.0.1:${options.port}/postgres`;
  await waitForServer(proc, `PostgreSQL on :${options.port}`, () => queryOk(adminUrl), 30_000);
  await ensureDatabase(adminUrl, options.database);
  return { ...proc, url: `postgres://postgres@127.0.0.1:${options.port}/${options.database}` };
}

/**
 * After a kill -9 of the postmaster its children linger a moment, still attached to its shared memory,
 * and a new postmaster refuses to start until they are gone. Line 7 of postmaster.pid names that segment.
 */
async function waitForOldPostmaster(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const shmid = readFileSync(pidFile, 'utf8').split('\n')[6]?.trim().split(/\s+/)[1];
  if (!shmid) return;
  // If they linger past this, PostgreSQL's own check reports it in the log.
  await waitUntil('the old PostgreSQL processes to exit', () => Promise.resolve(!sharedMemoryInUse(shmid)), 30_000).catch(() => undefined);
}

function sharedMemoryInUse(shmid: string): boolean {
  let table: string;
  try {
    table = readFileSync('/proc/sysvipc/shm', 'utf8'); // Linux only; elsewhere PostgreSQL's own check decides
  } catch {
    return false;
  }
  const row = table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((cols) => cols[1] === shmid);
  return Number(row?.[6] ?? 0) > 0; // columns: key shmid perms size cpid lpid nattch …
}

async function queryOk(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(database)) throw new StackError(`invalid database name ${database}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (!rowCount) await client.query(`create database ${database}`);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- Kafka

/** One KRaft node: its id, its client (broker) port and its controller port, all on 127.0.0.1. */
export interface KafkaNodeSpec {
  id: number;
  port: number;
  controllerPort: number;
}

export interface KafkaOptions {
  libs: string;
  dataDir: string;
  port: number;
  controllerPort: number;
  logFile: string;
  heapMb?: number;
  /** A second listener on `port`, advertised as `advertised`: a fault proxy in front of it keeps every later connection on the proxy. */
  proxied?: { port: number; advertised: string };
}

/** What a combined broker + controller node is set up with; the single node and the cluster (kafka-cluster.ts) differ only in these. */
export interface KafkaNodeSetup {
  libs: string;
  dataDir: string;
  node: KafkaNodeSpec;
  /** The controller quorum, this node included. */
  voters: KafkaNodeSpec[];
  /** Of new topics and of the internal ones (consumer offsets, transaction state); min ISR follows from it. */
  replicationFactor: number;
  /** Heap and GC flags. */
  jvm: string[];
  /** Written after the shared properties. */
  extraProperties?: string[];
  proxied?: { port: number; advertised: string };
}

export interface PreparedKafkaNode {
  node: KafkaNodeSpec;
  propertiesFile: string;
  javaArgs: string[];
}

function javaClasspath(libs: string): string {
  return `${libs}/*`;
}

/** Where a node's storage is, and so its meta.properties (which names the cluster it was formatted for). */
export function kafkaLogDir(dataDir: string): string {
  return path.join(dataDir, 'log');
}

/** Writes the node's server.properties and log4j.properties, and formats its storage for `clusterId` unless it is formatted already. */
export async function prepareKafkaNode(setup: KafkaNodeSetup, clusterId: string): Promise<PreparedKafkaNode> {
  const { node, proxied, replicationFactor } = setup;
  mkdirSync(setup.dataDir, { recursive: true });
  const propertiesFile = path.join(setup.dataDir, 'server.properties');
  const log4jFile = path.join(setup.dataDir, 'log4j.properties');
  const logDir = kafkaLogDir(setup.dataDir);
  const minInsync = minInsyncReplicasFor(replicationFactor);
  writeFileSync(
    propertiesFile,
    [
      'process.roles=broker,controller',
      `node.id=${node.id}`,
      `controller.quorum.voters=${setup.voters.map((voter) => `${voter.id}@127.0.0.1:${voter.controllerPort}`).join(',')}`,
      `listeners=PLAINTEXT://127.0.0.1:${node.port},CONTROLLER://127.0.0.1:${node.controllerPort}${proxied ? `,PROXIED://127.0.0.1:${proxied.port}` : ''}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${node.port}${proxied ? `,PROXIED://${proxied.advertised}` : ''}`,
      'controller.listener.names=CONTROLLER',
      `listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${proxied ? ',PROXIED:PLAINTEXT' : ''}`,
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${logDir}`,
      // docs/reliability.md B2: RF 3 and min ISR 2 on three brokers; one broker can hold only RF 1 and min ISR 1.
      `default.replication.factor=${replicationFactor}`,
      `min.insync.replicas=${minInsync}`,
      'unclean.leader.election.enable=false',
      'auto.create.topics.enable=false',
      `offsets.topic.replication.factor=${replicationFactor}`,
      `transaction.state.log.replication.factor=${replicationFactor}`,
      `transaction.state.log.min.isr=${minInsync}`,
      'group.initial.rebalance.delay.ms=0',
      'num.partitions=3',
      ...(setup.extraProperties ?? []),
    ].join('\n') + '\n',
  );
  writeFileSync(
    log4jFile,
    [
      'log4j.rootLogger=WARN, stdout',
      'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
      'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    ].join('\n') + '\n',
  );
  const javaArgs = [...setup.jvm, `-Dlog4j.configuration=file:${log4jFile}`, '-cp', javaClasspath(setup.libs)];
  if (!existsSync(path.join(logDir, 'meta.properties'))) {
    const format = await run('java', [...javaArgs, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', propertiesFile]);
    if (format.status !== 0) throw new StackError(`Kafka storage format failed: ${format.stderr.trim().split('\n').pop()}`);
  }
  return { node, propertiesFile, javaArgs };
}

/** Starts a prepared node and resolves once its client port accepts connections (a KRaft broker opens it once it has caught up with the quorum). */
export async function runKafkaNode(
  prepared: PreparedKafkaNode,
  options: { name: string; what: string; logFile: string; timeoutMs?: number },
): Promise<ManagedProcess> {
  const proc = spawnManaged({
    name: options.name,
    command: 'java',
    args: [...prepared.javaArgs, 'kafka.Kafka', prepared.propertiesFile],
    logFile: options.logFile,
  });
  const { port } = prepared.node;
  await waitForServer(proc, options.what, () => canConnect(port), options.timeoutMs ?? 60_000);
  return proc;
}

export async function startKafka(options: KafkaOptions): Promise<ManagedProcess & { brokers: string[] }> {
  const node = { id: 1, port: options.port, controllerPort: options.controllerPort };
  const setup = {
    libs: options.libs,
    dataDir: options.dataDir,
    node,
    voters: [node],
    replicationFactor: 1,
    jvm: [`-Xmx${options.heapMb ?? 512}m`, '-XX:+UseG1GC'],
    proxied: options.proxied,
  };
  const prepared = await prepareKafkaNode(setup, randomClusterId());
  const proc = await runKafkaNode(prepared, { name: 'kafka', what: `Kafka on :${options.port}`, logFile: options.logFile });
  return { ...proc, brokers: [`127.0.0.1:${options.port}`] };
}

/** KRaft cluster IDs are 16 random bytes in URL-safe base64 without padding; it may start with "-", hence --cluster-id=. */
export function randomClusterId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}

/** spawnSync's answer without blocking the event loop: the cluster formats its nodes side by side. */
function run(command: string, args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err) => resolve({ status: -1, stderr: err.message }));
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

// ---------------------------------------------------------------- Temporal

export interface TemporalOptions {
  temporalBin: string;
  dbFile: string;
  port: number;
  uiPort: number;
  logFile: string;
  namespace: string;
}

export async function startTemporal(options: TemporalOptions): Promise<ManagedProcess & { address: string; uiUrl: string }> {
  mkdirSync(path.dirname(options.dbFile), { recursive: true });
  const proc = spawnManaged({
    name: 'temporal',
    command: options.temporalBin,
    args: [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(options.port),
      '--ui-port',
      String(options.uiPort),
      '--db-filename',
      options.dbFile,
      '--namespace',
      options.namespace,
      '--log-level',
      'warn',
      // WAL keeps every commit durable (synchronous=FULL is SQLite's default) while letting reads run beside the writer.
      '--sqlite-pragma',
      'journal_mode=wal',
      ...Object.entries(searchAttributes).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]),
    ],
    logFile: options.logFile,
  });
  const uiUrl = `http://127.0.0.1:${options.uiPort}`;
  await waitForServer(proc, `Temporal on :${options.port}`, () => canConnect(options.port), 60_000);
  await waitForServer(proc, `Temporal UI on :${options.uiPort}`, async () => (await fetch(uiUrl)).ok, 30_000);
  return { ...proc, address: `127.0.0.1:${options.port}`, uiUrl };
}
