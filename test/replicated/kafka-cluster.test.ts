import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKafka, ensureTopics, kafkaRetry, topicSpecs, Topics } from '../../messaging/topics';
import {
  failoverBudgetMs,
  failureDetection,
  partitionLeaders,
  startKafkaCluster,
  type KafkaCluster,
  type PartitionLeadership,
} from '../../tools/stack/kafka-cluster';
import { readToolchain, repoRoot } from '../../tools/stack/servers';
import { freePort } from '../global-setup';

const PARTITIONS = 3;
/** Acknowledged messages on each side of a fault. */
const BEFORE = 150;
const AFTER = 150;

interface Ack {
  n: number;
  partition: number;
  at: number;
}

/** Polls until `check` holds; an error means "not yet" (a node is down or frozen). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Leadership as the given brokers report it, from a client that gives up at once: the test's own view must not
 * hang on a frozen node or wait out retries on a dead one while the producer under test rides them out.
 */
async function leadersVia(brokers: string[], topic: string): Promise<PartitionLeadership[]> {
  const admin = new Kafka({
    brokers,
    clientId: 'cluster-probe',
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await within(admin.connect(), 3_000);
    return await within(partitionLeaders(admin, topic), 3_000);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** An idempotent producer with acks=all on the service's client settings (the relay's), sending one message at a time. */
function produce(kafka: Kafka, topic: string) {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const acked: Ack[] = [];
  const failures: { n: number; error: string }[] = [];
  let running = true;
  const done = (async () => {
    await producer.connect();
    for (let n = 0; running; n++) {
      const partition = n % PARTITIONS;
      try {
        await producer.send({ topic, acks: -1, messages: [{ key: String(n), value: String(n), partition }] });
        acked.push({ n, partition, at: Date.now() });
      } catch (err) {
        failures.push({ n, error: err instanceof Error ? err.message : String(err) });
      }
    }
    await producer.disconnect();
  })();
  return {
    acked,
    failures,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** Every record of the topic, read by a new consumer group up to the high watermarks. */
async function readAll(kafka: Kafka, admin: Admin, topic: string): Promise<number[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const expected = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  const consumer = kafka.consumer({ groupId: `verify-${randomUUID()}` });
  const values: number[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        values.push(Number(message.value!.toString()));
        return Promise.resolve();
      },
    });
    await until(`${expected} records of ${topic}`, () => Promise.resolve(values.length >= expected));
  } finally {
    await consumer.disconnect();
  }
  return values;
}

function tally(acked: Ack[], read: number[]) {
  const seen = new Set(read);
  const ackedIds = new Set(acked.map((a) => a.n));
  return {
    acknowledged: acked.length,
    read: read.length,
    lost: acked.filter((a) => !seen.has(a.n)).map((a) => a.n),
    duplicates: read.length - seen.size,
    unacknowledgedInLog: [...seen].filter((n) => !ackedIds.has(n)).length,
  };
}

/** The longest wait for an acknowledgement after `from`: how long production stood still across the fault. */
function longestStall(acked: Ack[], from: number): number {
  let previous = from;
  let longest = 0;
  for (const { at } of acked.filter((a) => a.at >= from)) {
    longest = Math.max(longest, at - previous);
    previous = at;
  }
  return longest;
}

describe('three KRaft nodes: replication factor 3, min ISR 2, acks=all', () => {
  const toolchain = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'));
  let dir: string;
  let cluster: KafkaCluster;
  let kafka: Kafka;
  let admin: Admin;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kafka-cluster-'));
    const nodes = [];
    for (const id of [1, 2, 3]) nodes.push({ id, port: await freePort(), controllerPort: await freePort() });
    const t0 = Date.now();
    cluster = await startKafkaCluster({ libs: toolchain.KAFKA_LIBS, stateDir: dir, nodes, logDir: dir });
    console.info(`kafka-cluster: three nodes up in ${Date.now() - t0} ms`);
    kafka = createKafka({ brokers: cluster.brokers, clientId: 'kafka-cluster-test' });
    admin = kafka.admin();
    await admin.connect();
  }, 180_000);

  afterAll(async () => {
    await admin?.disconnect().catch(() => undefined);
    const t0 = Date.now();
    await cluster?.stop();
    console.info(`kafka-cluster: stopped in ${Date.now() - t0} ms`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** partitionLeaders, asked again while the broker asked lags behind the quorum (a topic just created, a failover). */
  async function leaders(topic: string): Promise<PartitionLeadership[]> {
    let found: PartitionLeadership[] = [];
    await until(`the metadata of ${topic}`, async () => {
      found = await partitionLeaders(admin, topic);
      return true;
    });
    return found;
  }

  /** Each node that died in an earlier case is started again, and `topic` has every replica in sync. */
  async function everyNodeInSync(topic: string): Promise<void> {
    for (const node of cluster.nodes) if (node.proc.child.exitCode !== null || node.proc.child.signalCode !== null) await cluster.startNode(node.id);
    await until(`every replica of ${topic} in sync`, async () => (await leadersVia(cluster.brokers, topic)).every((p) => p.leader > 0 && p.isr.length === 3));
  }

  async function createTopic(prefix: string): Promise<string> {
    const topic = `${prefix}-${randomUUID()}`;
    // The service topics' own settings (replication factor 3 brings min ISR 2), under another name.
    const [spec] = topicSpecs({ replicationFactor: 3 });
    await ensureTopics(kafka, [{ ...spec!, topic, numPartitions: PARTITIONS }]);
    await everyNodeInSync(topic);
    return topic;
  }

  it('a client retries longer than a failover lasts', () => {
    // kafkajs draws each wait within ±factor of the last one times the multiplier: the floor draws every one short.
    let wait = kafkaRetry.initialRetryTime * (1 - kafkaRetry.factor);
    let window = 0;
    for (let i = 0; i < kafkaRetry.retries; i++) {
      window += wait;
      wait = Math.min(wait * (1 - kafkaRetry.factor) * kafkaRetry.multiplier, kafkaRetry.maxRetryTime);
    }
    expect(failoverBudgetMs).toBe(10_000);
    expect(window).toBeGreaterThanOrEqual(2 * failoverBudgetMs);
  });

  it('creates the service topics and the internal ones with three in-sync replicas and min ISR 2', async () => {
    vi.stubEnv('KAFKA_REPLICATION_FACTOR', '3');
    try {
      await ensureTopics(kafka);
    } finally {
      vi.unstubAllEnvs();
    }
    for (const topic of Object.values(Topics)) {
      // A new partition's followers join its ISR once they have fetched from the leader: a moment on a loaded machine.
      await vi.waitFor(
        async () => {
          const partitions = await leaders(topic);
          expect(partitions, topic).toHaveLength(3);
          for (const p of partitions) expect({ topic, replicas: p.replicas, isr: p.isr }).toEqual({ topic, replicas: [1, 2, 3], isr: [1, 2, 3] });
        },
        { timeout: 30_000, interval: 250 },
      );
    }
    // The internal topics come into being on first use: a group's offsets, a transactional producer.
    // Until its coordinator has loaded the new topic a node answers "not the correct coordinator", which the admin client does not retry.
    const groupId = `g-${randomUUID()}`;
    await vi.waitFor(() => admin.fetchOffsets({ groupId, topics: [Topics.commands] }), { timeout: 30_000, interval: 500 });
    const transactional = kafka.producer({ transactionalId: `t-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
    await transactional.connect();
    await vi.waitFor(
      async () => {
        const transaction = await transactional.transaction();
        try {
          await transaction.send({ topic: Topics.events, messages: [{ key: 'k', value: 'transactional' }] });
          await transaction.commit();
        } catch (err) {
          // The next attempt needs no transaction left open.
          await transaction.abort().catch(() => undefined);
          throw err;
        }
      },
      { timeout: 30_000, interval: 500 },
    );
    await transactional.disconnect();
    for (const internal of ['__consumer_offsets', '__transaction_state']) {
      const partitions = await leaders(internal);
      expect(partitions, internal).toHaveLength(6);
      for (const p of partitions) expect({ internal, replicas: p.replicas }).toEqual({ internal, replicas: [1, 2, 3] });
    }
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [Topics.commands, Topics.deadLetters, '__consumer_offsets', '__transaction_state'].map((name) => ({
        type: ConfigResourceTypes.TOPIC,
        name,
        configNames: ['min.insync.replicas', 'unclean.leader.election.enable'],
      })),
    });
    for (const resource of described.resources) {
      const entries = Object.fromEntries(resource.configEntries.map((e) => [e.configName, e.configValue]));
      expect({ topic: resource.resourceName, ...entries }).toEqual({
        topic: resource.resourceName,
        'min.insync.replicas': '2',
        'unclean.leader.election.enable': 'false',
      });
    }
  });

  it('kill -9 of the leader of partition 0 mid-stream: production rides out the failover, no acknowledged message is lost', { timeout: 120_000 }, async () => {
    const topic = await createTopic('failover-kill');
    const production = produce(kafka, topic);
    try {
      await until(`${BEFORE} acknowledged`, () => Promise.resolve(production.acked.length >= BEFORE));
      const victim = (await leaders(topic))[0]!.leader;
      const node = cluster.nodes.find((n) => n.id === victim)!;
      const killedAt = Date.now();
      process.kill(node.pid, 'SIGKILL');
      await node.proc.exited;
      const others = cluster.brokers.filter((b) => b !== `127.0.0.1:${node.port}`);
      await until('a new leader of partition 0', async () => ![victim, -1].includes((await leadersVia(others, topic))[0]!.leader));
      const electedAfterMs = Date.now() - killedAt;
      const ackedAtKill = production.acked.filter((a) => a.at < killedAt).length;
      await until(`${AFTER} acknowledged after the kill`, () => Promise.resolve(production.acked.length >= ackedAtKill + AFTER), 60_000);
      await production.stop();
      const firstOnPartition0 = production.acked.find((a) => a.partition === 0 && a.at >= killedAt)!.at - killedAt;

      const restartedAt = Date.now();
      await everyNodeInSync(topic);
      const rejoinedAfterMs = Date.now() - restartedAt;
      const result = tally(production.acked, await readAll(kafka, admin, topic));
      console.info(
        `kafka-cluster kill -9: ${JSON.stringify({ victim, electedAfterMs, firstAckOnPartition0AfterMs: firstOnPartition0, longestStallMs: longestStall(production.acked, killedAt), rejoinedAfterMs, ...result, lost: result.lost.length, failures: production.failures.length })}`,
      );
      expect(production.failures).toEqual([]);
      expect(result.lost).toEqual([]);
      expect(result.duplicates).toBe(0);
      expect(result.unacknowledgedInLog).toBe(0);
    } finally {
      await production.stop();
    }
  });

  it('a leader frozen past the session timeout is replaced, rejoins as a follower, and loses nothing acknowledged', { timeout: 120_000 }, async () => {
    const topic = await createTopic('failover-freeze');
    const production = produce(kafka, topic);
    let frozen: number | undefined;
    try {
      await until(`${BEFORE} acknowledged`, () => Promise.resolve(production.acked.length >= BEFORE));
      const zombie = (await leaders(topic))[0]!.leader;
      const node = cluster.nodes.find((n) => n.id === zombie)!;
      const frozenAt = Date.now();
      process.kill(node.pid, 'SIGSTOP');
      frozen = node.pid;
      const others = cluster.brokers.filter((b) => b !== `127.0.0.1:${node.port}`);
      await until('a new leader of partition 0', async () => {
        const [p0] = await leadersVia(others, topic);
        return ![zombie, -1].includes(p0!.leader) && !p0!.isr.includes(zombie);
      });
      const electedAfterMs = Date.now() - frozenAt;
      // Frozen well past the session timeout: long enough that it would have been fenced even on a slow election.
      await sleep(Math.max(0, frozenAt + failureDetection.brokerSessionTimeoutMs + 4_000 - Date.now()));
      const ackedWhileFrozen = production.acked.filter((a) => a.at >= frozenAt).length;
      process.kill(node.pid, 'SIGCONT');
      frozen = undefined;
      const thawedAt = Date.now();
      let asFollower: PartitionLeadership | undefined;
      // Asked of the other nodes: the thawed one answers from the metadata it had when it froze, as the leader.
      await until('the frozen node back in sync', async () => {
        const [p0] = await leadersVia(others, topic);
        asFollower = p0;
        return p0!.isr.includes(zombie);
      });
      const rejoinedAfterMs = Date.now() - thawedAt;
      expect(asFollower!.leader).not.toBe(zombie);
      const ackedAtThaw = production.acked.filter((a) => a.at < thawedAt).length;
      await until(`${AFTER} acknowledged after the thaw`, () => Promise.resolve(production.acked.length >= ackedAtThaw + AFTER), 60_000);
      await production.stop();

      const result = tally(production.acked, await readAll(kafka, admin, topic));
      console.info(
        `kafka-cluster SIGSTOP: ${JSON.stringify({ zombie, frozenForMs: thawedAt - frozenAt, electedAfterMs, ackedWhileFrozen, rejoinedAfterMs, longestStallMs: longestStall(production.acked, frozenAt), ...result, lost: result.lost.length, failures: production.failures.length })}`,
      );
      expect(production.failures).toEqual([]);
      expect(result.lost).toEqual([]);
      expect(result.duplicates).toBe(0);
      expect(result.unacknowledgedInLog).toBe(0);
    } finally {
      if (frozen) process.kill(frozen, 'SIGCONT');
      await production.stop();
    }
  });
});
