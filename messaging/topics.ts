import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Admin, type ITopicConfig, type RetryOptions } from 'kafkajs';

import { loadConfig } from '../config';
import { Topics } from '../contract/topics';

export { Topics };

/**
 * Two in-sync copies once there are three replicas: a write acknowledged with acks=all survives the loss of any one
 * broker, and one broker may be down without stopping writes. With two replicas, min ISR 2 would stop writes whenever
 * either broker is down; one replica is its own only in-sync copy.
 */
export function minInsyncReplicasFor(replicationFactor: number): number {
  return replicationFactor >= 3 ? 2 : 1;
}

/** Per-topic durability settings (docs/reliability.md, B2): production's replication factor 3 brings min ISR 2. */
export function topicSpecs({ replicationFactor = 1, minInsyncReplicas = minInsyncReplicasFor(replicationFactor), partitions = 3 } = {}): ITopicConfig[] {
  const configEntries = [
    { name: 'min.insync.replicas', value: String(minInsyncReplicas) },
    { name: 'unclean.leader.election.enable', value: 'false' },
  ];
  // A dead-lettered record is the original plus a few KB of headers: its topic takes larger records than the source.
  const deadLetterEntries = [...configEntries, { name: 'max.message.bytes', value: String(2 * 1024 * 1024) }];
  return Object.values(Topics).map((topic) => ({
    topic,
    numPartitions: partitions,
    replicationFactor,
    configEntries: topic === Topics.deadLetters ? deadLetterEntries : configEntries,
  }));
}

/**
 * How long one request (a produce, a metadata lookup, an admin call) is retried before it fails. A partition whose
 * leader dies has no leader until the controller fences that broker, broker.session.timeout.ms after its last
 * heartbeat (6 s in the replicated stack, Kafka's default 9 s), plus about 3 s when the dead node also led the
 * controller quorum: up to 13 s in which every attempt fails. Retries that run out inside that window fail a send the
 * cluster was about to accept, so the relay, the DLQ and the chaos producers (which take this from the client) wait
 * 300 ms, doubling, capped at 2 s, fifteen times: 26 s nominal, and at least 23.8 s with every wait drawn 20 % short
 * (kafkajs's default, 5 retries capped at 30 s, waits 9.3 s nominal and under 4 s at worst). The cap has a retry
 * reach the new leader within 2 s of its election, and the window also rides out a restart of the single embedded
 * broker. Every field is given because kafkajs replaces its defaults with far shorter ones under NODE_ENV=test, and
 * the tests should retry as production does.
 */
export const kafkaRetry = { retries: 15, initialRetryTime: 300, maxRetryTime: 2_000, factor: 0.2, multiplier: 2 } satisfies Required<
  Pick<RetryOptions, 'retries' | 'initialRetryTime' | 'maxRetryTime' | 'factor' | 'multiplier'>
>;

export function createKafka({ brokers, clientId }: { brokers: string[]; clientId: string }): Kafka {
  return new Kafka({ brokers, clientId, logLevel: logLevel.NOTHING, retry: kafkaRetry });
}

/** Creates the topics that are missing; by default the service topics at KAFKA_REPLICATION_FACTOR. */
export async function ensureTopics(kafka: Kafka, specs = topicSpecs({ replicationFactor: loadConfig().KAFKA_REPLICATION_FACTOR })): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((spec) => !existing.has(spec.topic));
    if (missing.length) {
      await admin.createTopics({ topics: missing, waitForLeaders: false });
      await waitForLeaders(
        admin,
        missing.map((spec) => spec.topic),
      );
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Until every partition of `topics` has a leader. Not kafkajs's waitForLeaders: it asks the broker that created the
 * topics, and on a cluster that broker may answer before its own metadata has them, an error kafkajs does not retry.
 */
async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics });
      const led = (topic: string) => metadata.topics.find((t) => t.name === topic)?.partitions.every((p) => p.leader >= 0) ?? false;
      if (topics.every(led)) return;
      last = new Error(`no leader yet for every partition of ${topics.join(', ')}`);
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw last;
}
