/**
 * Scale: the service's closed-loop maximum with 1, 2 and 4 worker processes on the `orders` task queue.
 * The stack runs one; the bench starts the others (`node --import tsx worker/main.ts` with the stack's
 * addresses) and waits until each polls. Workers' RSS is read after each run.
 */
import { findProcesses } from '../../chaos/stack';
import { spawnTs, type Child } from '../lib/children';
import type { BenchContext } from '../lib/context';
import { rssMiB } from '../lib/machine';
import { ratio } from '../lib/stats';
import { waitUntilPolling } from '../lib/temporal';
import { scenarioFrom, type WorkerScale } from '../report/results';
import { closed } from './rates';

export function workerEnv(ctx: BenchContext): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TEMPORAL_ADDRESS: ctx.stack.temporalAddress,
    DATABASE_URL: ctx.stack.databaseUrl,
    KAFKA_BROKERS: ctx.stack.brokers.join(','),
    TEMPORAL_TASK_QUEUE: 'orders',
    LOG_LEVEL: 'warn',
    // The stack's worker serves metrics; these extra ones would all want its port.
    WORKER_METRICS_PORT: '0',
  };
}

export async function workerScaling(ctx: BenchContext): Promise<void> {
  const extra: Child[] = [];
  const scale: WorkerScale[] = [];
  try {
    for (const workers of ctx.flags.workers) {
      if (ctx.aborted()) return;
      const adding = workers - 1 - extra.length;
      if (adding > 0) ctx.log(`starting ${adding} more worker process(es) ...`);
      const added = Array.from({ length: adding }, (_, k) => spawnTs(`worker+${extra.length + k + 1}`, 'worker/main.ts', workerEnv(ctx)));
      extra.push(...added);
      await Promise.all(added.map((c) => waitUntilPolling(ctx.connection, 'orders', c.pid, 180_000)));
      ctx.log(`${workers} worker(s): ${ctx.flags.orders} orders, closed loop ...`);
      const { result } = await closed(ctx, 'service', ctx.flags.orders);
      const pids = [...findProcesses(ctx.stack.stackPid, 'worker'), ...extra.map((c) => c.pid)];
      scale.push({
        workers,
        ordersPerSec: result.ordersPerSec,
        p50Ms: result.endToEnd.p50Ms,
        p99Ms: result.endToEnd.p99Ms,
        workerRssMiB: pids.map((p) => rssMiB(p) ?? 0),
      });
      ctx.results.scenarios.push(
        scenarioFrom(
          `service max, ${workers} worker process${workers > 1 ? 'es' : ''}`,
          `service ${workers} worker${workers > 1 ? 's' : ''}`,
          'service',
          result,
        ),
      );
      ctx.log(`  ${result.ordersPerSec} orders/s`);
    }
  } finally {
    await Promise.all(extra.map((c) => c.stop()));
  }
  ctx.results.workers = scale;
  const one = scale.find((s) => s.workers === 1)?.ordersPerSec ?? Number.NaN;
  ctx.results.ratios.workers = Object.fromEntries(scale.map((s) => [`${s.workers}`, ratio(s.ordersPerSec, one)]));
}
