import { execFile } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { searchAttributes } from '../../contract/search-attributes';
import { canConnect, ensureDatabase, repoRoot, spawnManaged, StackError, waitForServer, type ManagedProcess } from './servers';

/** TEMPORAL_PERSISTENCE=postgres: temporal-server on the stack's PostgreSQL, the layout of docker-compose.yml. */

export interface TemporalServerBins {
  server: string;
  sqlTool: string;
  ui: string;
}

/** The binaries tools/stack/temporal-server.sh builds into the shared cache, at the versions pinned in versions.env. */
export function temporalServerBins(env: NodeJS.ProcessEnv = process.env): TemporalServerBins {
  const versions = Object.fromEntries(
    readFileSync(path.join(repoRoot, 'tools/stack/versions.env'), 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split('=', 2) as [string, string]),
  );
  const cache = env.SAGA_CACHE_DIR || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'saga-orchestrator');
  const serverDir = path.join(cache, `temporal-server-${versions.TEMPORAL_SERVER_VERSION}`, 'bin');
  const bins = {
    server: path.join(serverDir, 'temporal-server'),
    sqlTool: path.join(serverDir, 'temporal-sql-tool'),
    ui: path.join(cache, `temporal-ui-server-${versions.TEMPORAL_UI_VERSION}`, 'bin', 'temporal-ui-server'),
  };
  for (const bin of Object.values(bins)) {
    if (!existsSync(bin)) throw new StackError(`${bin} is missing; TEMPORAL_PERSISTENCE=postgres needs: bash tools/stack/temporal-server.sh`);
  }
  return bins;
}

/** Every role runs in every temporal-server process here: one process alone, or each node of the cluster. */
export const temporalRoles = ['frontend', 'history', 'matching', 'worker'] as const;
export type InternalPorts = Record<(typeof temporalRoles)[number], { grpcPort: number; membershipPort: number }>;

/** A free loopback port below 32768: cluster_membership.rpc_port is a smallint, and the OS hands out higher ones. */
export async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** The server's own ports beside the frontend's; chosen once, so a restart reuses them. */
export async function temporalInternalPorts(frontendPort: number): Promise<InternalPorts> {
  const ports: Partial<InternalPorts> = {};
  for (const role of temporalRoles) {
    ports[role] = { grpcPort: role === 'frontend' ? frontendPort : await freeLowPort(), membershipPort: await freeLowPort() };
  }
  return ports as InternalPorts;
}

export interface TemporalPostgresOptions {
  bins: TemporalServerBins;
  dataDir: string;
  pgPort: number;
  ports: InternalPorts;
  namespace: string;
  logFile: string;
}

/** The PostgreSQL temporal-server keeps its two databases on, as temporal-sql-tool and the server's config name it. */
export interface TemporalDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
}

/** The stack's own PostgreSQL: loopback, trust authentication. */
export function localTemporalDatabase(port: number): TemporalDatabase {
  return { host: '127.0.0.1', port, user: 'postgres', password: '' };
}

/** An external PostgreSQL given as a URL; its path (the database) is ignored: temporal-server keeps its own two. */
export function temporalDatabaseFromUrl(url: string): TemporalDatabase {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username) || 'postgres',
    password: decodeURIComponent(parsed.password),
  };
}

const run = promisify(execFile);

/** Creates `temporal` and `temporal_visibility` when missing and brings both schemas up to the server's version; idempotent. */
export async function prepareTemporalDatabases(o: { sqlTool: string; db: TemporalDatabase; logFile: string }): Promise<void> {
  const { db } = o;
  const auth = db.password ? `${encodeURIComponent(db.user)}:${encodeURIComponent(db.password)}` : encodeURIComponent(db.user);
  const admin = `postgres://${auth}@${db.host}:${db.port}/postgres`;
  for (const [database, schema] of [
    ['temporal', 'temporal'],
    ['temporal_visibility', 'visibility'],
  ] as const) {
    await ensureDatabase(admin, database);
    for (const task of [
      ['setup-schema', '-v', '0.0'],
      ['update-schema', '--schema-name', `postgresql/v12/${schema}`],
    ]) {
      const args = ['--plugin', 'postgres12', '--ep', db.host, '-p', String(db.port), '-u', db.user, '--db', database, ...task];
      // In the environment, not on the command line, where ps would show it.
      const env = db.password ? { ...process.env, SQL_PASSWORD: db.password } : process.env;
      const out = await run(o.sqlTool, args, { env }).catch((err: { stderr?: string; message: string }) => {
        appendFileSync(o.logFile, err.stderr ?? err.message);
        throw new StackError(`temporal-sql-tool ${task[0]} on ${database} failed; see ${o.logFile}`);
      });
      appendFileSync(o.logFile, out.stdout + out.stderr);
    }
  }
}

export interface TemporalServerConfigOptions {
  db: TemporalDatabase;
  ports: InternalPorts;
  /** Fixed once the database exists: a server configured otherwise logs a warning and runs with the stored count. */
  numHistoryShards: number;
  /** Where the cluster's frontends are reached: the frontend itself for one process, the load balancer for a cluster. */
  frontendAddress: string;
  /** Set for a cluster: the system workers (scheduler, batch, …) then reach the frontends through the load balancer, as clients do. */
  publicClientHostPort?: string;
  /** Connections per role and store (every role of a process has its own pool). */
  maxConns?: { default: number; visibility: number };
}

/** temporal-server's config/development.yaml, as JSON (which is YAML). */
export function temporalServerConfig(o: TemporalServerConfigOptions) {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${o.db.host}:${o.db.port}`,
      connectProtocol: 'tcp',
      user: o.db.user,
      password: o.db.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const maxConns = o.maxConns ?? { default: 20, visibility: 10 };
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: o.numHistoryShards,
      datastores: { default: store('temporal', maxConns.default), visibility: store('temporal_visibility', maxConns.visibility) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: Object.fromEntries(temporalRoles.map((role) => [role, { rpc: { ...o.ports[role], bindOnLocalHost: true } }])),
    ...(o.publicClientHostPort ? { publicClient: { hostPort: o.publicClientHostPort } } : {}),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: o.frontendAddress },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
  };
}

/** Writes `<dir>/config/development.yaml`; `temporalServerArgs(dir)` starts a server on it. */
export function writeTemporalServerConfig(dir: string, config: ReturnType<typeof temporalServerConfig>): void {
  mkdirSync(path.join(dir, 'config'), { recursive: true });
  // Private: it holds the database password.
  writeFileSync(path.join(dir, 'config', 'development.yaml'), JSON.stringify(config, null, 2), { mode: 0o600 });
}

export function temporalServerArgs(dir: string): string[] {
  return ['--root', dir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'];
}

/** Like auto-setup plus temporal-admin-tools: the namespace and the search attributes, idempotent. */
export async function registerNamespace(connection: Connection, namespace: string): Promise<boolean> {
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') }).catch((err: { code?: number }) => {
    if (err.code !== 6) throw err; // ALREADY_EXISTS
  });
  const types = temporal.api.enums.v1.IndexedValueType;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      Object.entries(searchAttributes).map(([name, type]) => [name, type === 'Bool' ? types.INDEXED_VALUE_TYPE_BOOL : types.INDEXED_VALUE_TYPE_KEYWORD]),
    ),
  });
  return namespaceReady(connection, namespace);
}

/** Whether this frontend's namespace cache knows the namespace and every search attribute: the query fails until then. */
export async function namespaceReady(connection: Connection, namespace: string): Promise<boolean> {
  const query = Object.entries(searchAttributes)
    .map(([name, type]) => `${name} = ${type === 'Bool' ? 'false' : "''"}`)
    .join(' AND ');
  await connection.workflowService.countWorkflowExecutions({ namespace, query });
  return true;
}

export async function startTemporalPostgres(o: TemporalPostgresOptions): Promise<ManagedProcess & { address: string }> {
  mkdirSync(path.dirname(o.logFile), { recursive: true });
  const db = localTemporalDatabase(o.pgPort);
  await prepareTemporalDatabases({ sqlTool: o.bins.sqlTool, db, logFile: o.logFile });
  const frontendAddress = `127.0.0.1:${o.ports.frontend.grpcPort}`;
  // 4 history shards: auto-setup's default.
  writeTemporalServerConfig(o.dataDir, temporalServerConfig({ db, ports: o.ports, numHistoryShards: 4, frontendAddress }));
  const proc = spawnManaged({ name: 'temporal', command: o.bins.server, args: temporalServerArgs(o.dataDir), logFile: o.logFile });
  const port = o.ports.frontend.grpcPort;
  const address = `127.0.0.1:${port}`;
  await waitForServer(proc, `Temporal on :${port}`, () => canConnect(port), 60_000);
  const connection = Connection.lazy({ address });
  try {
    await waitForServer(proc, `namespace ${o.namespace} on Temporal`, () => registerNamespace(connection, o.namespace), 60_000);
  } finally {
    await connection.close();
  }
  return { ...proc, address };
}

export interface TemporalUiOptions {
  bin: string;
  dataDir: string;
  address: string;
  uiPort: number;
  namespace: string;
  logFile: string;
}

/** The Web UI server (temporalio/ui in compose), which start-dev embeds but temporal-server does not. */
export async function startTemporalUi(o: TemporalUiOptions): Promise<ManagedProcess & { uiUrl: string }> {
  const dir = path.join(o.dataDir, 'ui');
  mkdirSync(dir, { recursive: true });
  const config = {
    temporalGrpcAddress: o.address,
    host: '127.0.0.1',
    port: o.uiPort,
    enableUi: true,
    defaultNamespace: o.namespace,
    cors: { cookieInsecure: true }, // plain HTTP on loopback
  };
  writeFileSync(path.join(dir, 'base.yaml'), JSON.stringify(config, null, 2));
  const proc = spawnManaged({
    name: 'temporal-ui',
    command: o.bin,
    args: ['--root', dir, '--config', '.', '--env', 'development', 'start'],
    logFile: o.logFile,
  });
  const uiUrl = `http://127.0.0.1:${o.uiPort}`;
  await waitForServer(proc, `Temporal UI on :${o.uiPort}`, async () => (await fetch(uiUrl)).ok, 30_000);
  return { ...proc, uiUrl };
}
