import { createKafka, ensureTopics } from '../../../messaging/topics';
import type { BenchContext } from './context';

/** A topic of the bench's own (3 partitions, like orders.commands), so each classic run starts empty. */
export async function createTopic(brokers: string[], topic: string): Promise<void> {
  await ensureTopics(createKafka({ brokers, clientId: 'bench-admin' }), [{ topic, numPartitions: 3, replicationFactor: 1 }]);
}

export function classicEnv(ctx: Pick<BenchContext, 'stack' | 'ref'>, topic: string, group: string): NodeJS.ProcessEnv {
  return { ...process.env, KAFKA_BROKERS: ctx.stack.brokers.join(','), DATABASE_URL: ctx.ref.url, BENCH_CLASSIC_TOPIC: topic, BENCH_CLASSIC_GROUP: group };
}
