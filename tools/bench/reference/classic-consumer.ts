/**
 * Reference (b), the process: a kafkajs consumer that applies each message in one transaction
 * (classic-transaction.ts), then commits that message's offset by hand. Any failure retries the same
 * message until its transaction commits, as the articles' consumer does: there is no compensation, no
 * check-back, and no dead-letter topic, so a message that can never apply blocks its partition.
 *   KAFKA_BROKERS=… DATABASE_URL=… BENCH_CLASSIC_TOPIC=… BENCH_CLASSIC_GROUP=… node --import tsx tools/bench/reference/classic-consumer.ts
 * Prints one line per event the bench counts: `ready`, `duplicate <id>`, `retry <id> <error>`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { createPool } from '../../../db/pool';
import { applyClassicOrder, type ClassicOrder } from './classic-transaction';

const required = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`error: ${name} is required\n`);
    process.exit(2);
  }
  return value;
};

async function main(): Promise<void> {
  const brokers = required('KAFKA_BROKERS').split(',');
  const topic = required('BENCH_CLASSIC_TOPIC');
  const groupId = required('BENCH_CLASSIC_GROUP');
  const pool = createPool({ connectionString: required('DATABASE_URL'), max: 4, queryTimeoutMs: 10_000 });
  const kafka = new Kafka({ brokers, clientId: 'bench-classic', logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  consumer.on(consumer.events.GROUP_JOIN, () => say('ready'));

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await consumer.disconnect().catch(() => undefined);
    await pool.end().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 3,
    eachMessage: async (payload) => {
      const { partition, message } = payload;
      const order = JSON.parse(message.value?.toString() ?? 'null') as ClassicOrder;
      for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
        if (stopping) return;
        try {
          if ((await applyClassicOrder(pool, order)) === 'duplicate') say(`duplicate ${order.messageId}`);
          break;
        } catch (err) {
          say(`retry ${order.messageId} ${err instanceof Error ? err.message.replace(/\s+/g, ' ').slice(0, 120) : String(err)}`);
          await payload.heartbeat().catch(() => undefined);
          await sleep(delay);
        }
      }
      await consumer.commitOffsets([{ topic, partition, offset: String(Number(message.offset) + 1) }]);
    },
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
