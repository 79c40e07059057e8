import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import {
  kafkaLogDir,
  prepareKafkaNode,
  randomClusterId,
  runKafkaNode,
  StackError,
  waitUntil,
  type KafkaNodeSpec,
  type ManagedProcess,
  type PreparedKafkaNode,
} from './servers';

/**
 * How fast the cluster notices a node that is gone, and so how long a partition it led has no leader. A frozen or
 * killed node is fenced, and its partitions moved to an in-sync follower, once the active controller has had no
 * heartbeat from it for the session timeout: here six heartbeat intervals (Kafka's default is 9 s at 2 s intervals),
 * so a node is fenced only after missing six heartbeats in a row, which neither a stall of the loaded 2-core machine
 * nor a young GC of a 256 MB heap (milliseconds) comes near, and every failover is a third shorter. When the dead node
 * also led the controller quorum, the others first wait out the fetch timeout and elect a new leader, which gives every
 * broker a fresh session (Kafka's defaults, written out because the failover budget below counts on them).
 */
export const failureDetection = {
  brokerSessionTimeoutMs: 6_000,
  brokerHeartbeatIntervalMs: 1_000,
  quorumFetchTimeoutMs: 2_000,
  quorumElectionTimeoutMs: 1_000,
  quorumElectionBackoffMaxMs: 1_000,
  /**
   * A follower that is up (so never fenced) but has not caught up for this long leaves the ISR; until then an
   * acks=all write waits for it. Kafka's 30 s would hold writes as long as a producer's whole request timeout.
   */
  replicaLagTimeMaxMs: 10_000,
};

/** The longest a partition is expected to be without a leader after its leader dies, quorum leadership included. */
export const failoverBudgetMs =
  failureDetection.quorumFetchTimeoutMs +
  failureDetection.quorumElectionTimeoutMs +
  failureDetection.quorumElectionBackoffMaxMs +
  failureDetection.brokerSessionTimeoutMs;

const REPLICATION_FACTOR = 3;

function clusterProperties(): string[] {
  return [
    `broker.session.timeout.ms=${failureDetection.brokerSessionTimeoutMs}`,
    `broker.heartbeat.interval.ms=${failureDetection.brokerHeartbeatIntervalMs}`,
    `controller.quorum.fetch.timeout.ms=${failureDetection.quorumFetchTimeoutMs}`,
    `controller.quorum.election.timeout.ms=${failureDetection.quorumElectionTimeoutMs}`,
    `controller.quorum.election.backoff.max.ms=${failureDetection.quorumElectionBackoffMaxMs}`,
    `replica.lag.time.max.ms=${failureDetection.replicaLagTimeMaxMs}`,
    // Sized for 2 cores running three nodes: Kafka's 50 partitions per internal topic would be 150 replicas each to
    // replicate and to load on every failover, for the few consumer groups a local stack has.
    'offsets.topic.num.partitions=6',
    'transaction.state.log.num.partitions=6',
    // Request threads per node, down from 3 network and 8 I/O: three nodes share two cores.
    'num.network.threads=2',
    'num.io.threads=4',
    'background.threads=4',
    // The log cleaner's key map lives on the heap: Kafka's 128 MiB would hold half of it at idle. 16 MiB maps some
    // 700,000 keys per compaction pass, far more than the consumer offsets of a local stack.
    `log.cleaner.dedupe.buffer.size=${16 * 1024 * 1024}`,
  ];
}

/**
 * Per node: a fixed heap (no resizing to pay for), and the serial collector, which runs no GC threads beside the
 * application on a machine with two cores for three JVMs; its pauses on a heap this small are short next to the
 * session timeout. Only the quick JIT tier: C2 compiling three JVMs at once took a third more CPU to start, for
 * peak throughput a local stack does not need. An out-of-memory node exits, to be restarted, rather than serving
 * half broken.
 */
function clusterJvm(heapMb: number): string[] {
  return [`-Xms${heapMb}m`, `-Xmx${heapMb}m`, '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:+ExitOnOutOfMemoryError'];
}

export interface KafkaClusterOptions {
  libs: string;
  /** Each node keeps its data in <stateDir>/node-<id>. */
  stateDir: string;
  /** The first node's port is the bootstrap address clients are given first. */
  nodes: KafkaNodeSpec[];
  /** Each node's log is <logDir>/kafka-<id>.log. */
  logDir: string;
  heapMb?: number;
  /** How long each node may take to serve; three JVMs starting on two cores are slow. */
  startTimeoutMs?: number;
}

export interface KafkaClusterNode extends KafkaNodeSpec {
  pid: number;
  proc: ManagedProcess;
  logFile: string;
}

export interface KafkaCluster {
  /** Every node's client address, the first node's first. */
  brokers: string[];
  /** The nodes as they run now (a node started again has a new pid). */
  readonly nodes: KafkaClusterNode[];
  /** Starts a node that has exited again, on its data, ports and settings (for a supervisor, or after a kill). */
  startNode(id: number): Promise<ManagedProcess>;
  /** Stops every node, a frozen (SIGSTOP) one included. */
  stop(graceMs?: number): Promise<void>;
}

/** The cluster ID a node was formatted with, if it was. */
function formattedClusterId(dataDir: string): string | undefined {
  const file = path.join(kafkaLogDir(dataDir), 'meta.properties');
  if (!existsSync(file)) return undefined;
  return /^cluster\.id=(.+)$/m.exec(readFileSync(file, 'utf8'))?.[1]?.trim();
}

/**
 * Three (or more) KRaft nodes, each a broker and a controller voter of one quorum, on 127.0.0.1: every topic and the
 * internal ones with replication factor 3 and min ISR 2, unclean leader election off. Resolves once every node is a
 * registered, unfenced broker, so a topic with replication factor 3 can be created at once.
 */
export async function startKafkaCluster(options: KafkaClusterOptions): Promise<KafkaCluster> {
  const { nodes } = options;
  if (nodes.length < REPLICATION_FACTOR) throw new StackError(`a replicated Kafka needs ${REPLICATION_FACTOR} nodes, got ${nodes.length}`);
  if (new Set(nodes.map((n) => n.id)).size !== nodes.length) throw new StackError('Kafka node ids must differ');
  const dataDirOf = (id: number) => path.join(options.stateDir, `node-${id}`);
  // One cluster ID for every node; a node formatted before (a restart, or a start cut short) decides it.
  const clusterId = nodes.map((n) => formattedClusterId(dataDirOf(n.id))).find(Boolean) ?? randomClusterId();
  const heapMb = options.heapMb ?? 256;
  const prepared = new Map<number, PreparedKafkaNode>();
  await Promise.all(
    nodes.map(async (node) => {
      const setup = {
        libs: options.libs,
        dataDir: dataDirOf(node.id),
        node,
        voters: nodes,
        replicationFactor: REPLICATION_FACTOR,
        jvm: clusterJvm(heapMb),
        extraProperties: clusterProperties(),
      };
      prepared.set(node.id, await prepareKafkaNode(setup, clusterId));
    }),
  );

  const running = new Map<number, ManagedProcess>();
  const logFileOf = (id: number) => path.join(options.logDir, `kafka-${id}.log`);
  const startNode = async (id: number): Promise<ManagedProcess> => {
    const node = prepared.get(id);
    if (!node) throw new StackError(`no Kafka node ${id} in this cluster`);
    const proc = await runKafkaNode(node, {
      name: `kafka-${id}`,
      what: `Kafka node ${id} on :${node.node.port}`,
      logFile: logFileOf(id),
      timeoutMs: options.startTimeoutMs ?? 120_000,
    });
    running.set(id, proc);
    return proc;
  };
  const stop = async (graceMs?: number) => {
    for (const proc of running.values()) {
      // A frozen node would take the whole grace period to see the SIGTERM.
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGCONT');
    }
    // Together, so each broker's controlled shutdown is approved while the controller quorum stands. One at a time,
    // the last node waits for a quorum that has left until the grace period ends in a SIGKILL; together, the last
    // out waits only KRaft's 5 s for a quorum to hand its leadership to.
    await Promise.all([...running.values()].map((proc) => proc.stop(graceMs)));
  };

  // Together: no node serves before a majority of the quorum runs.
  const started = await Promise.allSettled(nodes.map((n) => startNode(n.id)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const brokers = nodes.map((n) => `127.0.0.1:${n.port}`);
  try {
    if (failed) throw failed.reason;
    await waitUntil(`all ${nodes.length} Kafka nodes to register as brokers`, async () => (await liveBrokerIds(brokers)).length === nodes.length, 60_000);
  } catch (err) {
    await stop(5_000);
    throw err;
  }
  return {
    brokers,
    get nodes() {
      return nodes.map((n) => {
        const proc = running.get(n.id)!;
        return { ...n, pid: proc.child.pid!, proc, logFile: logFileOf(n.id) };
      });
    },
    startNode,
    stop,
  };
}

/** The unfenced brokers the cluster reports: a fenced or unregistered node is left out of its metadata. */
async function liveBrokerIds(brokers: string[]): Promise<number[]> {
  const admin = new Kafka({ brokers, clientId: 'stack-cluster-check', logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.map((b) => b.nodeId);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export interface PartitionLeadership {
  partition: number;
  /** The leader's node id; -1 while the partition has none. */
  leader: number;
  replicas: number[];
  isr: number[];
}

/** Which node leads each partition of `topic`, with its replicas and in-sync replicas, by partition. */
export async function partitionLeaders(admin: Admin, topic: string): Promise<PartitionLeadership[]> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  const found = topics.find((t) => t.name === topic);
  if (!found) throw new Error(`no metadata for topic ${topic}`);
  return found.partitions
    .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: [...p.replicas].sort((a, b) => a - b), isr: [...p.isr].sort((a, b) => a - b) }))
    .sort((a, b) => a.partition - b.partition);
}
