/**
 * Kafka intake: order commands produced to orders.commands in batches of 100 (as fast as the broker
 * takes them); the rate is messages / time from the first send until the last start was acknowledged
 * by Temporal (processed_messages.run_id set by the stack's consumer). Their sagas are then drained.
 */
import { DonePoller, orderEnded, startAcknowledged } from '../lib/done-poller';
import type { BenchContext } from '../lib/context';
import { summarize } from '../lib/stats';
import { Topics } from '../../../messaging/topics';
import { measuredScenario } from '../report/results';

export async function kafkaIntake(ctx: BenchContext): Promise<void> {
  const { flags, workload, producer } = ctx;
  const count = flags.intake;
  ctx.log(`Kafka intake: ${count} order commands to ${Topics.commands} ...`);
  const first = ctx.indexes.intake.take(count);
  const started = new DonePoller(ctx.pool, startAcknowledged);
  const latencies: number[] = [];
  const waits: Promise<void>[] = [];
  let last = 0;
  const t0 = performance.now();
  for (let b = 0; b < count; b += 100) {
    const batch = Array.from({ length: Math.min(100, count - b) }, (_, k) => workload.request('intake', first + b + k));
    const sentAt = performance.now();
    await producer.send({ topic: Topics.commands, acks: -1, messages: batch.map((r) => ({ key: r.customerId, value: JSON.stringify(r) })) });
    for (const r of batch) {
      waits.push(
        started.wait(r.messageId).then((at) => {
          latencies.push(at - sentAt);
          last = Math.max(last, at);
        }),
      );
    }
  }
  await withTimeout(Promise.all(waits), 600_000, 'Kafka intake');
  started.stop();
  const seconds = (last - t0) / 1000;
  const s = summarize(latencies);
  ctx.results.scenarios.push(
    measuredScenario({
      name: 'Kafka intake (produce -> start acknowledged)',
      short: 'kafka intake msg/s',
      system: 'service',
      ordersPerSec: Math.round((count / seconds) * 10) / 10,
      unit: 'messages/s',
      p50Ms: s.p50Ms,
      p95Ms: s.p95Ms,
      p99Ms: s.p99Ms,
      count,
    }),
  );
  ctx.log(`  ${(count / seconds).toFixed(1)} messages/s; draining their sagas ...`);
  const ended = new DonePoller(ctx.pool, orderEnded, 250);
  await withTimeout(Promise.all(Array.from({ length: count }, (_, k) => ended.wait(workload.id('intake', first + k)))), 600_000, 'Kafka intake sagas');
  ended.stop();
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms / 1000}s`)), ms))),
  ]).finally(() => clearTimeout(timer));
}
