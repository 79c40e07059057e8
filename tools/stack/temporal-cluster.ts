import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client as GrpcClient, credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { Connection } from '@temporalio/client';
import protobuf from 'protobufjs';
import { canConnect, spawnManaged, StackError, waitForServer, waitUntil, type ManagedProcess } from './servers';
import {
  namespaceReady,
  prepareTemporalDatabases,
  registerNamespace,
  startTemporalUi,
  temporalDatabaseFromUrl,
  temporalRoles,
  temporalServerArgs,
  temporalServerConfig,
  writeTemporalServerConfig,
  type InternalPorts,
  type TemporalServerBins,
} from './temporal-postgres';

/**
 * The replicated topology's Temporal: `nodes` temporal-server processes on one PostgreSQL, each running every role
 * (frontend, history, matching, worker), joined into one ring by membership (ringpop, seeded from the database's
 * cluster_membership table), behind nginx, the one gRPC address clients, workers, the Web UI and the servers' own
 * system workers use. The history shards are spread over the nodes; when one dies, the survivors take its shards
 * once membership has declared it faulty.
 */

/** A node's ports, from its base: a gRPC and a membership port per role, in the order of temporalRoles. */
export const portsPerNode = temporalRoles.length * 2;

export interface TemporalClusterPorts {
  /** The load balancer's gRPC listener: the cluster's one address. */
  grpc: number;
  ui: number;
  /** One per node: the first of its portsPerNode consecutive ports. Below 32768: cluster_membership.rpc_port is a smallint. */
  nodeBases: number[];
}

export interface TemporalClusterOptions {
  bins: TemporalServerBins;
  nginxBin: string;
  /** Each node's config, nginx's config, pid file and logs, the UI's config. */
  stateDir: string;
  /** Where temporal-server keeps its databases (`temporal`, `temporal_visibility`), created on first start. */
  postgresUrl: string;
  nodes: number;
  ports: TemporalClusterPorts;
  namespace: string;
  /** The processes' output: temporal-<n>.log, temporal-lb.log, temporal-ui.log. */
  logDir: string;
  /**
   * Fixed when the database is created; a later value is ignored (the server logs a warning). 4, as compose and
   * TEMPORAL_PERSISTENCE=postgres, so one database serves either layout: two per node on two nodes, and on 2 cores
   * each shard's queue processors cost idle CPU on whichever node holds it.
   */
  numHistoryShards?: number;
}

export interface TemporalClusterNode {
  name: string;
  /** temporal-server's --root: its config/development.yaml. */
  dir: string;
  ports: InternalPorts;
  logFile: string;
}

export function nodePorts(base: number): InternalPorts {
  if (base < 1024 || base + portsPerNode > 32768) throw new StackError(`node base port ${base} must leave ${portsPerNode} ports between 1024 and 32767`);
  return Object.fromEntries(temporalRoles.map((role, i) => [role, { grpcPort: base + 2 * i, membershipPort: base + 2 * i + 1 }])) as InternalPorts;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** Base ports for `count` nodes, each run of portsPerNode ports free right now, below 32768 (the OS hands out higher ones). */
export async function freeNodeBases(count: number): Promise<number[]> {
  const bases: number[] = [];
  for (let attempt = 0; bases.length < count; attempt++) {
    if (attempt > 200) throw new StackError(`found no ${count} runs of ${portsPerNode} free ports below 32768`);
    const base = 20_000 + 2 * Math.floor(Math.random() * 6_000);
    if (bases.some((b) => Math.abs(b - base) < portsPerNode)) continue;
    let free = true;
    for (let port = base; free && port < base + portsPerNode; port++) free = await canBind(port);
    if (free) bases.push(base);
  }
  return bases;
}

export function planClusterNodes(o: Pick<TemporalClusterOptions, 'stateDir' | 'nodes' | 'ports' | 'logDir'>): TemporalClusterNode[] {
  if (o.ports.nodeBases.length !== o.nodes) throw new StackError(`${o.nodes} Temporal nodes need ${o.nodes} base ports, got ${o.ports.nodeBases.length}`);
  return o.ports.nodeBases.map((base, i) => ({
    name: `temporal-${i + 1}`,
    dir: path.join(o.stateDir, `node-${i + 1}`),
    ports: nodePorts(base),
    logFile: path.join(o.logDir, `temporal-${i + 1}.log`),
  }));
}

// ---------------------------------------------------------------- load balancer

export interface LoadBalancerOptions {
  nginxBin: string;
  /** nginx's prefix: its config, pid file, error and access logs, temp folders. */
  dir: string;
  port: number;
  /** The nodes' frontend gRPC ports. */
  frontends: number[];
  logFile: string;
}

/**
 * gRPC over cleartext HTTP/2 on both sides. nginx balances per call (each gRPC stream is its own upstream request),
 * so a long poll holds one upstream connection and the next call may go to the other frontend.
 */
export function nginxConfig(o: Pick<LoadBalancerOptions, 'dir' | 'port' | 'frontends'>): string {
  const temp = (name: string) => path.join(o.dir, 'temp', name);
  return `# Written by tools/stack/temporal-cluster.ts on every start.
worker_processes 1;
pid ${path.join(o.dir, 'nginx.pid')};
# stderr goes to the managed process's log, where the stack reads why it exited.
error_log stderr warn;
error_log ${path.join(o.dir, 'error.log')} warn;

events {
  worker_connections 4096;
}

http {
  log_format grpc '$time_iso8601 $status $request_time "$request_uri" upstream=$upstream_addr $upstream_status $upstream_response_time';
  access_log ${path.join(o.dir, 'access.log')} grpc buffer=32k flush=1s;
  # Out of /var/lib/nginx, which only root may write; gRPC request bodies are never buffered to disk anyway.
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};

  upstream temporal_frontends {
    # Never marked down (max_fails=0, as in Temporal's own multi-role compose): a call to a dead frontend is refused at
    # once on loopback and goes on to the next (grpc_next_upstream). Marking it down instead can leave no frontend: one
    # refused while it was still starting stays out for fail_timeout, and the other dying in that window takes the rest.
${o.frontends.map((port) => `    server 127.0.0.1:${port} max_fails=0;`).join('\n')}
    keepalive 64;
    keepalive_requests 100000;
    keepalive_timeout 75s;
  }

  server {
    listen 127.0.0.1:${o.port} http2;
    # Temporal's own limits apply (a 2 MiB payload, a 4 MiB gRPC message); nginx's 1 MiB default would refuse a call carrying a large one.
    client_max_body_size 0;
    # A worker's connection carries many long polls at once; nginx would otherwise close it after 1000 calls or 75 s idle.
    http2_max_concurrent_streams 1024;
    keepalive_requests 100000;
    keepalive_timeout 10m;

    location / {
      grpc_pass grpc://temporal_frontends;
      grpc_connect_timeout 2s;
      # A long poll moves no byte for about 60 s before the frontend answers it; nginx's 60 s default would cut some.
      grpc_read_timeout 5m;
      grpc_send_timeout 5m;
      # Only a call that never reached a frontend moves on (gRPC calls are POSTs, not idempotent for nginx).
      grpc_next_upstream error timeout;
    }

    # No frontend reachable: gRPC's UNAVAILABLE, which clients retry, rather than an HTML 502.
    error_page 502 503 504 = @unavailable;
    location @unavailable {
      default_type application/grpc;
      add_header grpc-status 14 always;
      add_header grpc-message "no Temporal frontend reachable" always;
      return 204;
    }
  }
}
`;
}

export async function startTemporalLoadBalancer(o: LoadBalancerOptions): Promise<ManagedProcess & { address: string }> {
  mkdirSync(path.join(o.dir, 'temp'), { recursive: true });
  const conf = path.join(o.dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(o));
  const proc = spawnManaged({
    name: 'temporal-lb',
    command: o.nginxBin,
    // -e: the log for what happens before the config is read (a build's default may be a file only root can write).
    args: ['-p', o.dir, '-c', conf, '-e', 'stderr', '-g', 'daemon off;'],
    logFile: o.logFile,
  });
  await waitForServer(proc, `the Temporal load balancer on :${o.port}`, () => canConnect(o.port), 15_000);
  return { ...proc, address: `127.0.0.1:${o.port}` };
}

// ---------------------------------------------------------------- nodes

export interface TemporalNodeOptions {
  bins: TemporalServerBins;
  node: TemporalClusterNode;
  postgresUrl: string;
  /** The load balancer: the address the node's system workers and the cluster metadata name. */
  address: string;
  numHistoryShards: number;
}

/** Resolves once the node's frontend accepts connections; joining the ring and serving the namespace come after. */
export async function startTemporalNode(o: TemporalNodeOptions): Promise<ManagedProcess> {
  const config = temporalServerConfig({
    db: temporalDatabaseFromUrl(o.postgresUrl),
    ports: o.node.ports,
    numHistoryShards: o.numHistoryShards,
    frontendAddress: o.address,
    publicClientHostPort: o.address,
    // Every role of a process has its own pools: at most 4 × 15 connections a node; a 2-core machine gains nothing from more.
    maxConns: { default: 10, visibility: 5 },
  });
  writeTemporalServerConfig(o.node.dir, config);
  const proc = spawnManaged({ name: o.node.name, command: o.bins.server, args: temporalServerArgs(o.node.dir), logFile: o.node.logFile });
  const port = o.node.ports.frontend.grpcPort;
  await waitForServer(proc, `${o.node.name}'s frontend on :${port}`, () => canConnect(port), 60_000);
  return proc;
}

// ---------------------------------------------------------------- admin API

// The few messages of temporal.server.api.adminservice.v1 read here (server 1.32.0's proto/internal); other fields are skipped.
const adminTypes = protobuf.Root.fromJSON({
  nested: {
    DescribeClusterRequest: { fields: {} },
    HostInfo: { fields: { identity: { type: 'string', id: 1 } } },
    RingInfo: { fields: { role: { type: 'string', id: 1 }, memberCount: { type: 'int32', id: 2 }, members: { rule: 'repeated', type: 'HostInfo', id: 3 } } },
    MembershipInfo: { fields: { rings: { rule: 'repeated', type: 'RingInfo', id: 3 } } },
    DescribeClusterResponse: { fields: { membershipInfo: { type: 'MembershipInfo', id: 3 }, historyShardCount: { type: 'int32', id: 6 } } },
    WorkflowExecution: { fields: { workflowId: { type: 'string', id: 1 } } },
    DescribeHistoryHostRequest: {
      fields: {
        hostAddress: { type: 'string', id: 1 },
        namespace: { type: 'string', id: 3 },
        workflowExecution: { type: 'WorkflowExecution', id: 4 },
      },
    },
    DescribeHistoryHostResponse: { fields: { shardIds: { rule: 'repeated', type: 'int32', id: 2 }, address: { type: 'string', id: 5 } } },
  },
});

export interface ClusterMembership {
  historyShardCount: number;
  /** Per role (frontend, history, matching, worker): each member's address (its gRPC host:port). */
  rings: Record<string, string[]>;
}

export interface TemporalAdmin {
  describeCluster(): Promise<ClusterMembership>;
  /** The history host that owns the given host's shards, or the shard of the given workflow: its address and every shard it owns. */
  describeHistoryHost(target: { hostAddress: string } | { namespace: string; workflowId: string }): Promise<{ address: string; shardIds: number[] }>;
  close(): void;
}

/**
 * The AdminService calls the stack needs, which the TypeScript SDK does not expose (tdbg is not built here), over
 * plain grpc-js through the same address clients use.
 */
export function temporalAdmin(address: string, timeoutMs = 5_000): TemporalAdmin {
  const client = new GrpcClient(address, credentials.createInsecure());
  const call = <T>(method: string, requestType: string, responseType: string, request: object): Promise<T> => {
    const req = adminTypes.lookupType(requestType);
    const res = adminTypes.lookupType(responseType);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        `/temporal.server.api.adminservice.v1.AdminService/${method}`,
        (value: object) => Buffer.from(req.encode(req.fromObject(value)).finish()),
        (bytes: Buffer) => res.toObject(res.decode(bytes), { defaults: true }) as T,
        request,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: ServiceError | null, value?: T) => (err ? reject(err) : resolve(value!)),
      );
    });
  };
  return {
    async describeCluster() {
      const out = await call<{ historyShardCount: number; membershipInfo?: { rings: { role: string; members: { identity: string }[] }[] } }>(
        'DescribeCluster',
        'DescribeClusterRequest',
        'DescribeClusterResponse',
        {},
      );
      const rings = Object.fromEntries((out.membershipInfo?.rings ?? []).map((ring) => [ring.role, ring.members.map((m) => m.identity).sort()]));
      return { historyShardCount: out.historyShardCount, rings };
    },
    async describeHistoryHost(target) {
      const request = 'hostAddress' in target ? target : { namespace: target.namespace, workflowExecution: { workflowId: target.workflowId } };
      const out = await call<{ address: string; shardIds: number[] }>(
        'DescribeHistoryHost',
        'DescribeHistoryHostRequest',
        'DescribeHistoryHostResponse',
        request,
      );
      return { address: out.address, shardIds: [...out.shardIds].sort((a, b) => a - b) };
    },
    close: () => client.close(),
  };
}

// ---------------------------------------------------------------- the cluster

export interface TemporalCluster {
  /** The load balancer: the one address for clients, workers and the UI. */
  address: string;
  uiUrl: string;
  nodes: { name: string; pid: number; ports: InternalPorts; process: ManagedProcess }[];
  loadBalancer: ManagedProcess;
  ui: ManagedProcess;
  membership(): Promise<ClusterMembership>;
  /** Each node's shards, asked of its history host through the load balancer; null for a node whose history does not answer. */
  shardOwners(): Promise<Record<string, number[] | null>>;
  /** The UI, then the nodes, then the load balancer they talk through while they shut down. */
  stop(): Promise<void>;
}

/** Every shard held by exactly one node: the hand-over that follows a node joining has finished. */
async function shardsPlaced(admin: TemporalAdmin, nodes: TemporalClusterNode[]): Promise<boolean> {
  const { historyShardCount } = await admin.describeCluster();
  const held = await Promise.all(nodes.map(async (node) => (await admin.describeHistoryHost({ hostAddress: historyAddress(node) })).shardIds));
  const all = held.flat().sort((a, b) => a - b);
  return all.length === historyShardCount && all.every((shard, i) => shard === i + 1);
}

function historyAddress(node: TemporalClusterNode): string {
  return `127.0.0.1:${node.ports.history.grpcPort}`;
}

/** Every ring has every node: the cluster is one cluster, not `nodes` clusters on one database. */
async function allJoined(admin: TemporalAdmin, nodes: TemporalClusterNode[]): Promise<boolean> {
  const { rings } = await admin.describeCluster();
  return temporalRoles.every((role) => nodes.every((node) => rings[role]?.includes(`127.0.0.1:${node.ports[role].grpcPort}`)));
}

export async function startTemporalCluster(o: TemporalClusterOptions): Promise<TemporalCluster> {
  const numHistoryShards = o.numHistoryShards ?? 4;
  const nodes = planClusterNodes(o);
  const started: ManagedProcess[] = [];
  const admin = temporalAdmin(`127.0.0.1:${o.ports.grpc}`);
  try {
    await prepareTemporalDatabases({ sqlTool: o.bins.sqlTool, db: temporalDatabaseFromUrl(o.postgresUrl), logFile: path.join(o.logDir, 'temporal-1.log') });
    // First, so the nodes' system workers find the frontends through it as soon as one serves.
    const lb = await startTemporalLoadBalancer({
      nginxBin: o.nginxBin,
      dir: path.join(o.stateDir, 'lb'),
      port: o.ports.grpc,
      frontends: nodes.map((node) => node.ports.frontend.grpcPort),
      logFile: path.join(o.logDir, 'temporal-lb.log'),
    });
    started.push(lb);
    const nodeProcs: ManagedProcess[] = [];
    // One after the other: on a new database, two nodes would race to write the cluster metadata, and the loser exits.
    for (const node of nodes) {
      const proc = await startTemporalNode({ bins: o.bins, node, postgresUrl: o.postgresUrl, address: lb.address, numHistoryShards });
      started.push(proc);
      nodeProcs.push(proc);
    }
    const connection = Connection.lazy({ address: lb.address });
    try {
      await waitUntil(`namespace ${o.namespace} on the Temporal cluster`, () => registerNamespace(connection, o.namespace), 60_000);
    } finally {
      await connection.close();
    }
    await waitUntil(`all ${nodes.length} Temporal nodes in every ring`, () => allJoined(admin, nodes), 60_000);
    await waitUntil('the history shards spread over the Temporal nodes', () => shardsPlaced(admin, nodes), 60_000);
    // Each frontend's namespace cache refreshes on its own (every 10 s): asked directly, so no client meets one that has not.
    await Promise.all(
      nodes.map(async (node, i) => {
        const direct = Connection.lazy({ address: `127.0.0.1:${node.ports.frontend.grpcPort}` });
        try {
          await waitForServer(nodeProcs[i]!, `namespace ${o.namespace} on ${node.name}`, () => namespaceReady(direct, o.namespace), 60_000);
        } finally {
          await direct.close();
        }
      }),
    );
    const ui = await startTemporalUi({
      bin: o.bins.ui,
      dataDir: o.stateDir,
      address: lb.address,
      uiPort: o.ports.ui,
      namespace: o.namespace,
      logFile: path.join(o.logDir, 'temporal-ui.log'),
    });
    started.push(ui);
    return {
      address: lb.address,
      uiUrl: ui.uiUrl,
      nodes: nodes.map((node, i) => ({ name: node.name, pid: nodeProcs[i]!.child.pid!, ports: node.ports, process: nodeProcs[i]! })),
      loadBalancer: lb,
      ui,
      membership: () => admin.describeCluster(),
      async shardOwners() {
        const owners = await Promise.all(
          nodes.map((node) =>
            admin
              .describeHistoryHost({ hostAddress: historyAddress(node) })
              .then((host) => host.shardIds)
              .catch(() => null),
          ),
        );
        return Object.fromEntries(nodes.map((node, i) => [node.name, owners[i]!]));
      },
      async stop() {
        await ui.stop();
        await Promise.all(nodeProcs.map((proc) => proc.stop()));
        await lb.stop();
        admin.close();
      },
    };
  } catch (err) {
    admin.close();
    await Promise.all(started.map((proc) => proc.stop(5_000)));
    throw err;
  }
}
