import path from 'node:path';
import type { Admin } from 'kafkajs';
import { Topics } from '../../contract/topics';
import type { TopologyLeaders } from '../../lib/topology';
import { createKafka } from '../../messaging/topics';
import { partitionLeaders, startKafkaCluster, type KafkaCluster } from './kafka-cluster';
import { readHaToolchain, startPostgresHa, type PostgresHa } from './postgres-ha';
import { assertPortFree, ensureDatabase, StackError, type ManagedProcess, type Toolchain } from './servers';
import type { Service } from './supervisor';
import { planClusterNodes, startTemporalCluster, startTemporalLoadBalancer, startTemporalNode, type TemporalCluster } from './temporal-cluster';
import { startTemporalUi, temporalServerBins } from './temporal-postgres';
import type { ServerNode } from './topology';

/**
 * TOPOLOGY=replicated: every server of the stack as a small cluster on this machine, behind the embedded stack's
 * addresses (PostgreSQL's HAProxy on PG_PORT, Temporal's load balancer on TEMPORAL_PORT, the first Kafka node on
 * KAFKA_PORT, the UI on TEMPORAL_UI_PORT), so every client, command and doc works unchanged.
 */

export interface ReplicatedOptions {
  toolchain: Toolchain;
  stackDir: string;
  logDir: string;
  namespace: string;
  database: string;
  ports: { pg: number; kafka: number; kafkaController: number; temporal: number; ui: number };
  /** The first of the internal ports (etcd, Patroni, the PostgreSQL nodes, Kafka nodes 2 and 3, Temporal's nodes). */
  internalBase: number;
}

export interface ReplicatedServers {
  databaseUrl: string;
  temporalAddress: string;
  uiUrl: string;
  brokers: string[];
  /** Every process, with how to start it again: the stack's supervisor watches them. */
  supervised: [Service, ManagedProcess][];
  /** Every node with its role and ports, named as the supervisor names its process. */
  nodes(): ServerNode[];
  /** Who leads what now. */
  leaders(): Promise<TopologyLeaders>;
  stop(): Promise<void>;
}

/** The internal ports, all from one base, so they are easy to find, to free and to firewall. */
export function internalPorts(base: number) {
  return {
    etcdClient: base,
    etcdPeer: base + 1,
    postgres: [
      { pgPort: base + 2, restPort: base + 3 },
      { pgPort: base + 4, restPort: base + 5 },
    ],
    kafka: [
      { id: 2, port: base + 10, controllerPort: base + 11 },
      { id: 3, port: base + 12, controllerPort: base + 13 },
    ],
    // Eight ports a node (a gRPC and a membership port for each of four roles).
    temporalBases: [base + 20, base + 30],
  };
}

export async function assertInternalPortsFree(base: number): Promise<void> {
  const p = internalPorts(base);
  const all = [
    p.etcdClient,
    p.etcdPeer,
    ...p.postgres.flatMap((n) => [n.pgPort, n.restPort]),
    ...p.kafka.flatMap((n) => [n.port, n.controllerPort]),
    ...p.temporalBases.flatMap((b) => Array.from({ length: 8 }, (_, i) => b + i)),
  ];
  for (const port of all) await assertPortFree(port, `STACK_INTERNAL_PORT_BASE (${base}: the replicated topology's internal ports)`);
}

export async function startReplicatedServers(o: ReplicatedOptions): Promise<ReplicatedServers> {
  const internal = internalPorts(o.internalBase);
  const stopping: (() => Promise<void>)[] = [];
  try {
    const kafkaUp = startKafkaCluster({
      libs: o.toolchain.KAFKA_LIBS,
      stateDir: path.join(o.stackDir, 'kafka-cluster'),
      nodes: [{ id: 1, port: o.ports.kafka, controllerPort: o.ports.kafkaController }, ...internal.kafka],
      logDir: o.logDir,
    });
    const pg = await startPostgresHa({
      ...readHaToolchain(o.stackDir),
      stateDir: path.join(o.stackDir, 'postgres-ha'),
      logDir: o.logDir,
      port: o.ports.pg,
      etcdClientPort: internal.etcdClient,
      etcdPeerPort: internal.etcdPeer,
      nodes: internal.postgres,
    });
    stopping.push(() => pg.stop());
    const adminUrl = new URL(pg.url);
    await ensureDatabase(adminUrl.toString(), o.database);
    const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${o.database}` }).toString();

    const bins = temporalServerBins();
    const nginxBin = o.toolchain.NGINX_BIN;
    if (!nginxBin) throw new StackError('nginx is not installed; run: TOPOLOGY=replicated npm run toolchain');
    const temporalOptions = {
      bins,
      nginxBin,
      stateDir: path.join(o.stackDir, 'temporal-cluster'),
      postgresUrl: adminUrl.toString(),
      nodes: internal.temporalBases.length,
      ports: { grpc: o.ports.temporal, ui: o.ports.ui, nodeBases: internal.temporalBases },
      namespace: o.namespace,
      logDir: o.logDir,
    };
    const temporal = await startTemporalCluster(temporalOptions);
    stopping.push(() => temporal.stop());
    const kafka = await kafkaUp;
    stopping.push(() => kafka.stop());
    const kafkaAdmin = createKafka({ brokers: kafka.brokers, clientId: 'saga-orchestrator-topology' }).admin();
    await kafkaAdmin.connect();
    stopping.push(() => kafkaAdmin.disconnect());

    return {
      databaseUrl,
      temporalAddress: temporal.address,
      uiUrl: temporal.uiUrl,
      brokers: kafka.brokers,
      supervised: [...postgresServices(pg), ...kafkaServices(kafka), ...temporalServices(temporal, temporalOptions)],
      nodes: () => describeNodes(pg, kafka, temporal, o),
      leaders: () => readLeaders(pg, kafkaAdmin, temporal),
      stop: async () => {
        for (const stop of stopping.reverse()) await stop();
      },
    };
  } catch (err) {
    for (const stop of stopping.reverse()) await stop().catch(() => undefined);
    throw err;
  }
}

function postgresServices(pg: PostgresHa): [Service, ManagedProcess][] {
  return pg.processes.map((p) => [p.service, p.current()]);
}

function kafkaServices(kafka: KafkaCluster): [Service, ManagedProcess][] {
  return kafka.nodes.map((node) => [{ name: node.proc.name, logFile: node.logFile, start: () => kafka.startNode(node.id) }, node.proc]);
}

type TemporalOptions = Parameters<typeof startTemporalCluster>[0];

/** Each node, the load balancer and the UI, started again exactly as the cluster started them. */
function temporalServices(temporal: TemporalCluster, o: TemporalOptions): [Service, ManagedProcess][] {
  const plans = planClusterNodes(o);
  const nodes = temporal.nodes.map((node, i): [Service, ManagedProcess] => [
    {
      name: node.process.name,
      logFile: plans[i]!.logFile,
      start: () => startTemporalNode({ bins: o.bins, node: plans[i]!, postgresUrl: o.postgresUrl, address: temporal.address, numHistoryShards: 4 }),
    },
    node.process,
  ]);
  const lb: [Service, ManagedProcess] = [
    {
      name: temporal.loadBalancer.name,
      logFile: temporal.loadBalancer.logFile,
      start: () =>
        startTemporalLoadBalancer({
          nginxBin: o.nginxBin,
          dir: path.join(o.stateDir, 'lb'),
          port: o.ports.grpc,
          frontends: plans.map((p) => p.ports.frontend.grpcPort),
          logFile: temporal.loadBalancer.logFile,
        }),
    },
    temporal.loadBalancer,
  ];
  const ui: [Service, ManagedProcess] = [
    {
      name: temporal.ui.name,
      logFile: temporal.ui.logFile,
      start: () =>
        startTemporalUi({
          bin: o.bins.ui,
          dataDir: o.stateDir,
          address: temporal.address,
          uiPort: o.ports.ui,
          namespace: o.namespace,
          logFile: temporal.ui.logFile,
        }),
    },
    temporal.ui,
  ];
  return [...nodes, lb, ui];
}

/** Every node, named as the supervisor names the process that runs it. */
function describeNodes(pg: PostgresHa, kafka: KafkaCluster, temporal: TemporalCluster, o: ReplicatedOptions): ServerNode[] {
  const internal = internalPorts(o.internalBase);
  return [
    {
      name: 'haproxy',
      service: 'haproxy',
      kind: 'postgres',
      role: "load balancer: PostgreSQL's stable address, to the current primary",
      ports: { client: o.ports.pg },
    },
    {
      name: 'etcd',
      service: 'etcd',
      kind: 'postgres',
      role: "Patroni's store (leader lock, cluster state)",
      ports: { client: internal.etcdClient, peer: internal.etcdPeer },
    },
    ...pg.nodes.map((node): ServerNode => ({
      name: node.name,
      service: `patroni-${node.name}`,
      kind: 'postgres',
      role: 'PostgreSQL under Patroni',
      ports: { postgres: node.pgPort, rest: node.restPort },
    })),
    ...kafka.nodes.map((node): ServerNode => ({
      name: `kafka-${node.id}`,
      service: `kafka-${node.id}`,
      kind: 'kafka',
      role: `broker and controller, node ${node.id}${node.id === 1 ? ' (the bootstrap address)' : ''}`,
      ports: { client: node.port, controller: node.controllerPort },
    })),
    {
      name: 'temporal-lb',
      service: 'temporal-lb',
      kind: 'temporal',
      role: "load balancer (nginx grpc_pass): Temporal's one address",
      ports: { grpc: o.ports.temporal },
    },
    ...temporal.nodes.map((node): ServerNode => ({
      name: node.name,
      service: node.process.name,
      kind: 'temporal',
      role: 'temporal-server: frontend, history, matching and worker',
      ports: Object.fromEntries(Object.entries(node.ports).map(([role, p]) => [role, p.grpcPort])),
    })),
    { name: 'temporal-ui', service: 'temporal-ui', kind: 'temporal', role: 'Web UI', ports: { http: o.ports.ui } },
  ];
}

/** Who leads what now: Patroni's primary, the KRaft quorum leader and each service topic's partition leaders, the shards. */
async function readLeaders(pg: PostgresHa, kafkaAdmin: Admin, temporal: TemporalCluster): Promise<TopologyLeaders> {
  const [members, kafka, shards] = await Promise.all([
    pg.roles().catch(() => undefined),
    kafkaLeaders(kafkaAdmin).catch(() => undefined),
    temporal.shardOwners().catch(() => undefined),
  ]);
  return {
    ...(members
      ? { postgres: { primary: members.find((m) => m.role === 'primary')?.name ?? null, members: Object.fromEntries(members.map((m) => [m.name, m.role])) } }
      : {}),
    ...(kafka ? { kafka } : {}),
    ...(shards ? { temporal: { shards } } : {}),
  };
}

async function kafkaLeaders(admin: Admin): Promise<NonNullable<TopologyLeaders['kafka']>> {
  const { controller } = await admin.describeCluster();
  const partitions: Record<string, Record<string, number | null>> = {};
  for (const topic of [Topics.commands, Topics.events]) {
    const leaders = await partitionLeaders(admin, topic);
    partitions[topic] = Object.fromEntries(leaders.map((p) => [String(p.partition), p.leader >= 0 ? p.leader : null]));
  }
  return { controller, partitions };
}

/** The banner's lines for the clusters. */
export function clusterLines(clusters: ReplicatedServers): string[] {
  const nodes = clusters.nodes();
  const of = (kind: string) => nodes.filter((n) => n.kind === kind).map((n) => n.name);
  return [
    `  PostgreSQL          ${of('postgres').join(', ')}: a primary and a synchronous standby under Patroni`,
    `  Kafka               ${of('kafka').join(', ')}: replication factor 3, min.insync.replicas 2`,
    `  Temporal cluster    ${of('temporal').join(', ')}`,
  ];
}
