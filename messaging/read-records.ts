import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export interface RecordAddress {
  topic: string;
  partition: number;
  offset: string;
}

export const recordId = ({ topic, partition, offset }: RecordAddress): string => `${topic}/${partition}/${offset}`;

interface PartitionRead {
  topic: string;
  partition: number;
  offsets: Set<string>;
  from: string;
  last: bigint;
}

/**
 * The records at these addresses, keyed by `topic/partition/offset`. Read through a consumer group of its
 * own that commits nothing, so no real group's position moves. A record the log no longer holds (past
 * retention, compacted away, a recreated topic) is absent from the answer.
 */
export async function readRecords(kafka: Kafka, wanted: RecordAddress[], timeoutMs = 30_000): Promise<Map<string, KafkaMessage>> {
  const found = new Map<string, KafkaMessage>();
  const reads = await readablePartitions(kafka, wanted);
  if (!reads.size) return found;
  const consumer = kafka.consumer({ groupId: `saga-cli-read-${randomUUID()}`, maxWaitTimeInMs: 500 });
  await consumer.connect();
  try {
    for (const topic of new Set([...reads.values()].map((r) => r.topic))) await consumer.subscribe({ topic, fromBeginning: false });
    let timer: NodeJS.Timeout | undefined;
    const done = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`Kafka did not hand over ${reads.size} partition(s) of records within ${timeoutMs / 1000} s`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const key = `${batch.topic}/${batch.partition}`;
            const read = reads.get(key);
            if (!read) return;
            for (const m of batch.messages) if (read.offsets.delete(m.offset)) found.set(`${key}/${m.offset}`, m);
            const upTo = BigInt(batch.lastOffset());
            // Past the last offset wanted, or at the log's end: an offset not seen by now is not in the log.
            if (!read.offsets.size || upTo >= read.last || upTo + 1n >= BigInt(batch.highWatermark)) reads.delete(key);
            if (!reads.size) resolve();
            return Promise.resolve();
          },
        })
        .then(() => {
          for (const r of reads.values()) consumer.seek({ topic: r.topic, partition: r.partition, offset: r.from });
        })
        .catch(reject);
    });
    await done.finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return found;
}

/** The wanted offsets grouped by partition, leaving out those outside what the log holds now. */
async function readablePartitions(kafka: Kafka, wanted: RecordAddress[]): Promise<Map<string, PartitionRead>> {
  const reads = new Map<string, PartitionRead>();
  if (!wanted.length) return reads;
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    for (const topic of new Set(wanted.map((w) => w.topic))) {
      if (!existing.has(topic)) continue;
      const offsets = await admin.fetchTopicOffsets(topic);
      for (const w of wanted.filter((x) => x.topic === topic)) {
        const held = offsets.find((o) => o.partition === w.partition);
        const offset = BigInt(w.offset);
        if (!held || offset < BigInt(held.low) || offset >= BigInt(held.high)) continue;
        const key = `${topic}/${w.partition}`;
        const read = reads.get(key) ?? { topic, partition: w.partition, offsets: new Set<string>(), from: w.offset, last: offset };
        read.offsets.add(w.offset);
        if (offset < BigInt(read.from)) read.from = w.offset;
        if (offset > read.last) read.last = offset;
        reads.set(key, read);
      }
    }
  } finally {
    await admin.disconnect();
  }
  return reads;
}
