import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readToolchain, spawnManaged, StackError, waitForServer, waitUntil, type ManagedProcess } from './servers';
import type { Service } from './supervisor';

/**
 * PostgreSQL with failover for TOPOLOGY=replicated: a primary and a synchronous standby run by Patroni, one etcd
 * node as Patroni's store, and HAProxy on one stable port in front. HAProxy health-checks each Patroni's REST API
 * (`GET /primary` answers 200 only on the leader), so the address always leads to the current primary, and a client
 * that knows one host only (node `pg`, Temporal's SQL plugin) follows a failover by reconnecting.
 *
 * etcd is spoken to through its v3 API (Patroni's `etcd3:`): Patroni 3.0 implements it over etcd's JSON gRPC gateway
 * with urllib3, needing only Debian's python3-etcd (which the patroni package pulls in) for its exception classes, not
 * python3-etcd3. etcd 3.4 serves that gateway at /v3 by default, whereas the v2 API (Patroni's `etcd:`) is off in 3.4
 * unless started with --enable-v2, deprecated, and removed in etcd 3.6.
 */

export type HaRole = 'primary' | 'sync-standby' | 'replica' | 'down';

export interface HaMember {
  name: string;
  role: HaRole;
  /** Patroni's state of its postgres: running, streaming, starting, stopped, crashed, … ('' when down). */
  state: string;
  timeline?: number;
  /** Bytes of WAL behind the leader, as Patroni last saw it. */
  lag?: number | string;
}

export interface HaNode {
  name: string;
  /** The role when startPostgresHa returned; roles() tells the current one. */
  role: HaRole;
  /** Of the Patroni process (Patroni starts and restarts postgres itself); updated when the node is started again. */
  pid: number;
  pgPort: number;
  restPort: number;
  dataDir: string;
  /** Patroni's own log; postgres writes its log to postgresLog. */
  logFile: string;
  postgresLog: string;
}

export interface HaTiming {
  /** Seconds the leader lock lives without renewal: how long a lost node (Patroni gone too) holds on to the primary. */
  ttl: number;
  /** Seconds between Patroni's HA loops: how long a crashed postmaster on the primary goes unnoticed at most. */
  loopWait: number;
  /** Seconds Patroni retries etcd and PostgreSQL before it gives up on them (a leader then demotes itself). */
  retryTimeout: number;
}

/**
 * Patroni wants loop_wait + 2 × retry_timeout ≤ ttl, so that a leader cut off from etcd demotes itself before its
 * lock expires and the standby promotes: otherwise two primaries could overlap. 2 + 2 × 4 = 10.
 */
export const defaultHaTiming: HaTiming = { ttl: 10, loopWait: 2, retryTimeout: 4 };

export interface PostgresHaBins {
  pgBin: string;
  patroniBin: string;
  etcdBin: string;
  haproxyBin: string;
}

export interface PostgresHaOptions extends PostgresHaBins {
  /** Data of etcd and of each node, the generated configurations and HAProxy's stats socket live here. */
  stateDir: string;
  logDir: string;
  /** HAProxy's port: the one address of the current primary. */
  port: number;
  etcdClientPort: number;
  etcdPeerPort: number;
  /** Two (or more) PostgreSQL nodes: each a postgres port and a Patroni REST API port. */
  nodes: Array<{ pgPort: number; restPort: number }>;
  /** Patroni's cluster name; etcd keys live under /saga/<scope>/. */
  scope?: string;
  /**
   * true: with no synchronous standby left the primary accepts no commit at all (each waits until a standby is back).
   * false (default): the primary goes on alone, and Patroni marks it the only node eligible for promotion, so no
   * acknowledged commit is lost in a failover either way; strict mode only adds a second copy of every commit, at
   * the price that losing either of two nodes stops every write until it returns.
   */
  synchronousModeStrict?: boolean;
  timing?: Partial<HaTiming>;
  /** How long to wait for the cluster (bootstrap, base backup, synchronous standby) before giving up. */
  startTimeoutMs?: number;
}

export interface HaProcess {
  /** For the supervisor: starts this process again with the same ports, data and configuration. */
  service: Service;
  /** The process running now (a new one after each service.start()). */
  current(): ManagedProcess;
}

export interface PostgresHa {
  /** The stable address: HAProxy, which leads to whichever node is primary. */
  url: string;
  nodes: HaNode[];
  /** etcd, each Patroni and HAProxy: the processes a caller supervises (Patroni itself restarts postgres). */
  processes: HaProcess[];
  /** The current leader's name, from Patroni's /cluster; rejects when there is none. */
  leader(): Promise<string>;
  /** Every node's role and state, from Patroni's REST API `/cluster` (a node missing from it is 'down'). */
  roles(): Promise<HaMember[]>;
  /** The nodes HAProxy routes to now (servers it sees up): the leader alone, once checks have settled. */
  routedTo(): Promise<string[]>;
  /** The postmaster's pid from the node's postmaster.pid, if one is running. */
  postmasterPid(name: string): number | undefined;
  stop(): Promise<void>;
}

/** The HA binaries tools/stack/toolchain.sh records when TOPOLOGY=replicated (or for the tests). */
export function readHaToolchain(stateDir: string): PostgresHaBins {
  const toolchain = readToolchain(stateDir) as unknown as Record<string, string | undefined>;
  const bins = {
    pgBin: toolchain.PG_BIN ?? '',
    patroniBin: toolchain.PATRONI_BIN ?? '',
    etcdBin: toolchain.ETCD_BIN ?? '',
    haproxyBin: toolchain.HAPROXY_BIN ?? '',
  };
  for (const [key, bin] of Object.entries(bins)) {
    if (!bin || !existsSync(bin)) throw new StackError(`${key} is not installed; run: TOPOLOGY=replicated npm run toolchain`);
  }
  return bins;
}

/**
 * PostgreSQL parameters every node gets through Patroni's global configuration in etcd. Sized like the embedded
 * server (max_connections=200: Temporal's two stores take up to 30 connections per service role, four roles in one
 * temporal-server, beside the service's pools), on 2 cores.
 */
const clusterParameters = {
  max_connections: 200,
  shared_buffers: '128MB',
  effective_cache_size: '512MB',
  work_mem: '4MB',
  maintenance_work_mem: '64MB',
  max_worker_processes: 4,
  max_parallel_workers: 2,
  max_parallel_workers_per_gather: 1,
  // An acknowledged commit is on the standby's disk too: `on` waits for the standby's flush of the commit record.
  synchronous_commit: 'on',
  fsync: 'on',
  full_page_writes: 'on',
  wal_level: 'replica',
  // pg_rewind needs hint-bit changes in the WAL (Patroni turns it on for use_pg_rewind; said here so nobody turns it off).
  wal_log_hints: 'on',
  max_wal_senders: 5,
  max_replication_slots: 5,
  // Lets a standby that lost its slot (a re-created member) still catch up from the primary's WAL without a new base backup.
  wal_keep_size: '256MB',
  max_wal_size: '512MB',
  hot_standby: 'on',
  wal_receiver_status_interval: '1s',
  // A standby notices a silent primary within seconds, and a primary a silent standby (so its walsender slot frees up).
  wal_receiver_timeout: '10s',
  wal_sender_timeout: '10s',
};

interface NodePlan extends HaNode {
  dir: string;
  configFile: string;
}

export async function startPostgresHa(options: PostgresHaOptions): Promise<PostgresHa> {
  if (options.nodes.length < 2) throw new StackError('PostgreSQL with failover needs two nodes or more');
  const timing = { ...defaultHaTiming, ...options.timing };
  if (timing.loopWait + 2 * timing.retryTimeout > timing.ttl) {
    throw new StackError(`Patroni needs loop_wait + 2 × retry_timeout ≤ ttl; got ${timing.loopWait} + 2 × ${timing.retryTimeout} > ${timing.ttl}`);
  }
  const scope = options.scope ?? 'pg';
  const ids = postgresIds();
  mkdirSync(options.stateDir, { recursive: true });
  mkdirSync(options.logDir, { recursive: true });
  const current = new Map<string, ManagedProcess>();
  const plans: NodePlan[] = options.nodes.map((ports, i) => {
    const name = `pg${i}`;
    const dir = path.join(options.stateDir, name);
    return {
      name,
      role: 'down',
      pid: 0,
      ...ports,
      dir,
      dataDir: path.join(dir, 'data'),
      configFile: path.join(dir, 'patroni.yml'),
      logFile: path.join(options.logDir, `patroni-${name}.log`),
      postgresLog: path.join(dir, 'log', 'postgresql.log'),
    };
  });

  const dcs = {
    ttl: timing.ttl,
    loop_wait: timing.loopWait,
    retry_timeout: timing.retryTimeout,
    maximum_lag_on_failover: 1048576,
    synchronous_mode: true,
    synchronous_mode_strict: options.synchronousModeStrict ?? false,
    synchronous_node_count: 1,
    // A postmaster that crashes on the primary is failed over at once instead of restarted in place: the standby
    // holds every acknowledged commit already, and a restart would leave the service waiting out crash recovery.
    primary_start_timeout: 0,
    // Without etcd (its one node down) the leader stays primary while it still reaches every other node's REST API,
    // instead of demoting itself after retry_timeout: a lone etcd must not take the database's writes down with it.
    failsafe_mode: true,
    postgresql: { use_pg_rewind: true, use_slots: true, parameters: clusterParameters },
  };

  for (const plan of plans) {
    mkdirSync(path.join(plan.dir, 'log'), { recursive: true, mode: 0o700 });
    writeFileSync(plan.configFile, `${JSON.stringify(patroniConfig(plan, options, scope, dcs), null, 2)}\n`, { mode: 0o600 });
    if (ids.uid !== undefined) {
      for (const owned of [plan.dir, path.join(plan.dir, 'log'), plan.configFile]) chownSync(owned, ids.uid, ids.gid!);
      if (spawnSync('test', ['-w', plan.dir], { uid: ids.uid, gid: ids.gid }).status !== 0) {
        throw new StackError(
          `the postgres user cannot reach ${plan.dir} (a parent folder is private); set STACK_DIR to a folder it can traverse, or chmod o+x the parents`,
        );
      }
    }
  }

  const etcdDir = path.join(options.stateDir, 'etcd');
  mkdirSync(etcdDir, { recursive: true, mode: 0o700 });
  const etcdUrl = `http://127.0.0.1:${options.etcdClientPort}`;
  const etcdService: Service = {
    name: 'etcd',
    logFile: path.join(options.logDir, 'etcd.log'),
    start: async () => {
      const proc = spawnManaged({
        name: 'etcd',
        command: options.etcdBin,
        args: etcdArgs(etcdDir, scope, options),
        logFile: path.join(options.logDir, 'etcd.log'),
        // etcd reads ETCD_* variables as flags; none of the caller's may change ours.
        env: withoutPrefixes(process.env, ['ETCD_']),
      });
      await waitForServer(proc, `etcd on :${options.etcdClientPort}`, () => httpOk(`${etcdUrl}/health`), 30_000);
      current.set('etcd', proc);
      return proc;
    },
  };

  const patroniService = (plan: NodePlan): Service => ({
    name: `patroni-${plan.name}`,
    logFile: plan.logFile,
    start: async () => {
      const proc = spawnManaged({
        name: `patroni-${plan.name}`,
        command: options.patroniBin,
        args: [plan.configFile],
        logFile: plan.logFile,
        // Patroni takes PATRONI_* variables as configuration, over the file's.
        env: { ...withoutPrefixes(process.env, ['PATRONI_']), PYTHONUNBUFFERED: '1' },
        cwd: plan.dir,
        ...ids,
      });
      plan.pid = proc.child.pid ?? 0;
      current.set(plan.name, proc);
      // Serving means postgres runs under it (a fresh standby has its base backup, a former primary has rewound).
      await waitForServer(proc, `Patroni ${plan.name} on :${plan.restPort}`, () => httpOk(`http://127.0.0.1:${plan.restPort}/health`), 120_000);
      return proc;
    },
  });

  const haproxyDir = path.join(options.stateDir, 'haproxy');
  mkdirSync(haproxyDir, { recursive: true });
  const statsSocket = path.join(haproxyDir, 'stats.sock');
  if (Buffer.byteLength(statsSocket) > 100) throw new StackError(`${statsSocket} is too long for a unix socket; use a shorter STACK_DIR`);
  const haproxyConfig = path.join(haproxyDir, 'haproxy.cfg');
  writeFileSync(haproxyConfig, haproxyConfigText(options, plans, statsSocket));
  const haproxyService: Service = {
    name: 'haproxy',
    logFile: path.join(options.logDir, 'haproxy.log'),
    start: async () => {
      const check = spawnSync(options.haproxyBin, ['-c', '-q', '-f', haproxyConfig], { encoding: 'utf8' });
      if (check.status !== 0) throw new StackError(`HAProxy refuses ${haproxyConfig}: ${(check.stderr || check.stdout).trim().split('\n').pop()}`);
      const proc = spawnManaged({
        name: 'haproxy',
        command: options.haproxyBin,
        // -db: stay in the foreground, one process, so the supervisor watches HAProxy itself.
        args: ['-db', '-f', haproxyConfig],
        logFile: path.join(options.logDir, 'haproxy.log'),
      });
      current.set('haproxy', proc);
      // Every server starts out up in HAProxy; serving means its checks have settled on the leader alone.
      await waitForServer(
        proc,
        `HAProxy on :${options.port}`,
        async () => {
          const up = await routedTo();
          return up.length === 1 && up[0] === (await leader());
        },
        30_000,
      );
      return proc;
    },
  };

  const restUrls = () => plans.map((plan) => `http://127.0.0.1:${plan.restPort}`);

  const roles = async (): Promise<HaMember[]> => {
    let lastError: unknown;
    for (const url of restUrls()) {
      try {
        const response = await fetch(`${url}/cluster`, { signal: AbortSignal.timeout(2_000) });
        if (!response.ok) throw new Error(`${url}/cluster answered ${response.status}`);
        const body = (await response.json()) as { members?: Array<{ name: string; role: string; state?: string; timeline?: number; lag?: number | string }> };
        const members = body.members ?? [];
        return plans.map((plan) => {
          const member = members.find((m) => m.name === plan.name);
          if (!member) return { name: plan.name, role: 'down', state: '' };
          return { name: plan.name, role: roleOf(member.role), state: member.state ?? '', timeline: member.timeline, lag: member.lag };
        });
      } catch (err) {
        lastError = err; // that node is down: ask the next one
      }
    }
    // A plain Error, not a StackError: waitUntil takes it for "not yet", as in the middle of a failover.
    throw new Error(`no Patroni REST API answers (${lastError instanceof Error ? lastError.message : String(lastError)})`);
  };

  const leader = async (): Promise<string> => {
    const primary = (await roles()).find((m) => m.role === 'primary');
    if (!primary) throw new Error('the PostgreSQL cluster has no leader');
    return primary.name;
  };

  const routedTo = async (): Promise<string[]> => {
    const csv = await haproxyCommand(statsSocket, 'show stat');
    const [header, ...rows] = csv.split('\n').filter((line) => line.trim());
    const columns = (header ?? '').replace(/^# /, '').split(',');
    const [px, sv, status] = ['pxname', 'svname', 'status'].map((c) => columns.indexOf(c)) as [number, number, number];
    return rows
      .map((row) => row.split(','))
      .filter((cells) => cells[px] === 'postgres' && plans.some((plan) => plan.name === cells[sv]))
      .filter((cells) => cells[status]?.startsWith('UP'))
      .map((cells) => cells[sv]!);
  };

  const postmasterPid = (name: string): number | undefined => {
    const plan = plans.find((p) => p.name === name);
    if (!plan) throw new StackError(`no node ${name}`);
    return livePostmaster(plan.dataDir);
  };

  const processes: HaProcess[] = [];
  const stop = async (): Promise<void> => {
    await current.get('haproxy')?.stop(5_000);
    // Standbys first: a leader stopped before them would hand its lock to one only for it to be stopped next.
    const leaderName = await leader().catch(() => undefined);
    const order = [...plans].sort((a, b) => Number(a.name === leaderName) - Number(b.name === leaderName));
    for (const plan of order) await current.get(plan.name)?.stop(30_000);
    // A Patroni killed on its own leaves its postmaster running (Patroni starts it in a session of its own).
    await Promise.all(plans.map((plan) => stopOrphanPostmaster(plan.dataDir)));
    await current.get('etcd')?.stop(10_000);
  };

  try {
    const etcd = await etcdService.start();
    processes.push({ service: etcdService, current: () => current.get('etcd') ?? etcd });
    // Both at once: one wins Patroni's initialize key in etcd and runs initdb, the other waits and takes a base backup.
    const started = await Promise.all(
      plans.map(async (plan) => {
        const service = patroniService(plan);
        const proc = await service.start();
        return { service, proc, plan };
      }),
    );
    for (const { service, proc, plan } of started) processes.push({ service, current: () => current.get(plan.name) ?? proc });
    await patchDynamicConfig(restUrls()[0]!, dcs);
    await waitUntil(
      'a PostgreSQL primary with a synchronous standby',
      async () => {
        const members = await roles();
        return (
          members.filter((m) => m.role === 'primary' && m.state === 'running').length === 1 &&
          members.some((m) => m.role === 'sync-standby' && ['running', 'streaming'].includes(m.state))
        );
      },
      options.startTimeoutMs ?? 120_000,
    );
    const proxy = await haproxyService.start();
    processes.push({ service: haproxyService, current: () => current.get('haproxy') ?? proxy });
    const members = await roles();
    for (const plan of plans) plan.role = members.find((m) => m.name === plan.name)?.role ?? 'down';
  } catch (err) {
    await stop();
    throw err;
  }

  const nodes: HaNode[] = plans;
  return {
    url: `postgres://postgres@127.0.0.1:${options.port}/postgres`,
    nodes,
    processes,
    leader,
    roles,
    routedTo,
    postmasterPid,
    stop,
  };
}

function patroniConfig(plan: NodePlan, options: PostgresHaOptions, scope: string, dcs: Record<string, unknown>) {
  // JSON is YAML, so this is Patroni's YAML without a YAML writer.
  return {
    scope,
    namespace: '/saga/',
    name: plan.name,
    log: { level: 'INFO', format: '%(asctime)s %(levelname)s: %(message)s' },
    restapi: { listen: `127.0.0.1:${plan.restPort}`, connect_address: `127.0.0.1:${plan.restPort}` },
    etcd3: { hosts: [`127.0.0.1:${options.etcdClientPort}`], protocol: 'http' },
    bootstrap: {
      dcs,
      initdb: [{ encoding: 'UTF8' }, { locale: 'C' }, 'data-checksums'],
    },
    postgresql: {
      listen: `127.0.0.1:${plan.pgPort}`,
      connect_address: `127.0.0.1:${plan.pgPort}`,
      data_dir: plan.dataDir,
      bin_dir: options.pgBin,
      pgpass: path.join(plan.dir, 'pgpass'),
      authentication: {
        superuser: { username: 'postgres' },
        replication: { username: 'postgres' },
        rewind: { username: 'postgres' },
      },
      // Trust on loopback only, as the embedded server's initdb --auth=trust; written by Patroni on every node.
      pg_hba: ['local all all trust', 'host all postgres 127.0.0.1/32 trust', 'host replication postgres 127.0.0.1/32 trust'],
      use_pg_rewind: true,
      // A node that cannot rewind (or whose timeline diverged past it) takes a fresh base backup instead of staying out.
      remove_data_directory_on_rewind_failure: true,
      remove_data_directory_on_diverged_timelines: true,
      parameters: {
        // The node's own socket folder: /var/run/postgresql belongs to Debian's clusters.
        unix_socket_directories: plan.dir,
        // Postgres logs to its own file, not into Patroni's output, which it would otherwise hold open past Patroni's exit.
        logging_collector: 'on',
        log_directory: path.dirname(plan.postgresLog),
        log_filename: path.basename(plan.postgresLog),
        log_rotation_age: 0,
        log_rotation_size: 0,
        log_line_prefix: '%m [%p] ',
      },
    },
    // No /dev/watchdog here. Without one, a hung primary is not killed; synchronous mode still keeps it from
    // acknowledging a commit once its standby has been promoted and no longer streams from it.
    watchdog: { mode: 'off' },
  };
}

function etcdArgs(dataDir: string, scope: string, o: PostgresHaOptions): string[] {
  const peer = `http://127.0.0.1:${o.etcdPeerPort}`;
  const client = `http://127.0.0.1:${o.etcdClientPort}`;
  return [
    '--name=etcd0',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=etcd0=${peer}`,
    '--initial-cluster-state=new',
    `--initial-cluster-token=saga-${scope}`,
    // Patroni rewrites its member keys every loop: keep one hour of history, not all of it.
    '--auto-compaction-mode=periodic',
    '--auto-compaction-retention=1h',
    // Raft entries kept in memory between snapshots (100000 by default): a store of a few keys needs far fewer.
    '--snapshot-count=10000',
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=warn',
  ];
}

function haproxyConfigText(o: PostgresHaOptions, plans: NodePlan[], statsSocket: string): string {
  return [
    'global',
    '  log stderr format raw local0 info',
    '  maxconn 1024',
    `  stats socket ${statsSocket} mode 600 level admin`,
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    // Only failed or aborted sessions and server state changes: a pool's every connection would flood the log.
    '  option dontlog-normal',
    '  option tcplog',
    // A refused connect is a postgres that is down, which a retry a second later rarely finds back: one retry, then the
    // client gets its error and reconnects, by which time the checks below may lead it to the new primary.
    '  retries 1',
    '  timeout connect 2s',
    // Longer than the longest idle pooled connection (Temporal's maxConnLifetime is 1h), so HAProxy never cuts one.
    '  timeout client 2h',
    '  timeout server 2h',
    '  timeout check 1s',
    '  option clitcpka',
    '  option srvtcpka',
    '',
    'listen postgres',
    `  bind 127.0.0.1:${o.port}`,
    '  option httpchk',
    '  http-check send meth GET uri /primary',
    '  http-check expect status 200',
    // Checks every 0.5 s. A server comes up after one passed check (only the leader passes, so one is proof enough)
    // and goes down after three failed ones, so a single slow answer from a busy Patroni does not drop every session.
    // shutdown-sessions: connections to a demoted node are cut at once, so no client keeps writing to a read-only node.
    '  default-server inter 500ms downinter 500ms fall 3 rise 1 on-marked-down shutdown-sessions',
    ...plans.map((plan) => `  server ${plan.name} 127.0.0.1:${plan.pgPort} check port ${plan.restPort}`),
    '',
  ].join('\n');
}

function roleOf(patroniRole: string): HaRole {
  switch (patroniRole) {
    case 'leader':
    case 'master':
    case 'primary':
      return 'primary';
    case 'sync_standby':
      return 'sync-standby';
    default:
      return 'replica';
  }
}

/** Sets the timing and synchronous settings on a cluster that was bootstrapped before they changed (bootstrap.dcs applies once). */
async function patchDynamicConfig(restUrl: string, dcs: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${restUrl}/config`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(dcs),
    signal: AbortSignal.timeout(10_000),
  });
  if (!response.ok) throw new StackError(`Patroni refused its configuration: ${response.status} ${await response.text()}`);
}

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await response.body?.cancel();
  return response.ok;
}

function haproxyCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ path: socketPath });
    socket.setTimeout(2_000, () => socket.destroy(new Error('HAProxy stats socket timed out')));
    socket.once('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function withoutPrefixes(env: NodeJS.ProcessEnv, prefixes: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([key]) => !prefixes.some((prefix) => key.startsWith(prefix))));
}

function postgresIds(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  // Patroni runs initdb and postgres, which refuse to run as root: Patroni runs as Debian's postgres user.
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  if (!Number.isInteger(uid) || uid <= 0) throw new StackError('no postgres user; run: apt-get install postgresql-15');
  return { uid, gid: id('-g') };
}

function livePostmaster(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A stale postmaster.pid may name a pid reused by something else.
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  return comm === 'postgres' ? pid : undefined;
}

async function stopOrphanPostmaster(dataDir: string): Promise<void> {
  const pid = livePostmaster(dataDir);
  if (!pid) return;
  process.kill(pid, 'SIGINT'); // PostgreSQL's fast shutdown
  const deadline = Date.now() + 15_000;
  while (livePostmaster(dataDir) === pid && Date.now() < deadline) await sleep(100);
  if (livePostmaster(dataDir) === pid) process.kill(pid, 'SIGKILL');
}
