import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTopics, topicSpecs, Topics } from '../messaging/topics';

describe('kafka round trip on the real broker', () => {
  const kafka = new Kafka({ brokers: inject('kafkaBrokers'), clientId: 'kafka-test', logLevel: logLevel.NOTHING });
  const topic = `roundtrip-${randomUUID()}`;
  const admin = kafka.admin();

  beforeAll(async () => {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
  });
  afterAll(async () => admin.disconnect());

  it('idempotent producer with acks=-1, consumer with auto-commit off commits only what it processed', async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const sent = await producer.send({
      topic,
      acks: -1,
      messages: [1, 2, 3].map((n) => ({ key: 'customer-1', value: JSON.stringify({ n }) })),
    });
    await producer.disconnect();
    expect(sent[0]?.errorCode).toBe(0);

    const groupId = `g-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received: number[] = [];
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ message, partition }) => {
            const { n } = JSON.parse(message.value!.toString()) as { n: number };
            received.push(n);
            // Commit only the first two: the third is "not yet processed".
            if (n <= 2) await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
            if (received.length === 3) resolve();
          },
        })
        .catch(reject);
    });
    await consumer.disconnect();
    expect(received).toEqual([1, 2, 3]);

    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(offsets?.partitions).toEqual([{ partition: 0, offset: '2', metadata: null }]);

    // A restarted consumer resumes at the uncommitted message instead of losing it.
    const again = kafka.consumer({ groupId });
    await again.connect();
    await again.subscribe({ topic, fromBeginning: true });
    const redelivered = await new Promise<number>((resolve, reject) => {
      again
        .run({
          autoCommit: false,
          eachMessage: ({ message }) => {
            resolve((JSON.parse(message.value!.toString()) as { n: number }).n);
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
    await again.disconnect();
    expect(redelivered).toBe(3);
  });

  it('creates the service topics with the single-broker durability settings', async () => {
    await ensureTopics(kafka);
    await ensureTopics(kafka); // idempotent
    const metadata = await admin.fetchTopicMetadata({ topics: Object.values(Topics) });
    expect(metadata.topics.map((t) => t.name).sort()).toEqual(Object.values(Topics).sort());
    for (const t of metadata.topics) expect(t.partitions).toHaveLength(topicSpecs()[0]!.numPartitions!);
    const configs = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: 2, name: Topics.commands, configNames: ['min.insync.replicas', 'unclean.leader.election.enable'] }],
    });
    const entries = Object.fromEntries(configs.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    expect(entries).toEqual({ 'min.insync.replicas': '1', 'unclean.leader.election.enable': 'false' });
  });
});
