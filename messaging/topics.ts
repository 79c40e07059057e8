import { Kafka, logLevel, type ITopicConfig } from 'kafkajs';

import { Topics } from '../contract/topics';

export { Topics };

/** Per-topic durability settings; production raises replication to 3 and min ISR to 2 (docs/reliability.md, B2). */
export function topicSpecs({ replicationFactor = 1, minInsyncReplicas = 1, partitions = 3 } = {}): ITopicConfig[] {
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

export function createKafka({ brokers, clientId }: { brokers: string[]; clientId: string }): Kafka {
  return new Kafka({ brokers, clientId, logLevel: logLevel.NOTHING, retry: { retries: 5 } });
}

export async function ensureTopics(kafka: Kafka, specs = topicSpecs()): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((spec) => !existing.has(spec.topic));
    if (missing.length) await admin.createTopics({ topics: missing, waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}
