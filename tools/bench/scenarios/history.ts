/** History events, workflow tasks and activities per saga, from a few closed sagas and no-op workflows. */
import { workflowIdFor } from '../../../domain/order';
import type { BenchContext } from '../lib/context';
import { historyStats } from '../lib/temporal';

export async function historyPerSaga(ctx: BenchContext, serviceFirst: number, noopFirst: number, sample = 5): Promise<void> {
  ctx.log(`history: ${sample} sagas and ${sample} no-op workflows ...`);
  const pick = (first: number) => Array.from({ length: sample }, (_, k) => first + k * 3);
  const service = await historyStats(
    ctx.client,
    pick(serviceFirst).map((i) => workflowIdFor(ctx.workload.id('service', i))),
  );
  const noop = await historyStats(
    ctx.client,
    pick(noopFirst).map((i) => `noop-${ctx.workload.id('noopLocal', i)}`),
  );
  ctx.results.history = { service, noop };
  ctx.log(
    `  saga: ${service.events.mean} events, ${service.workflowTasks.mean} workflow tasks; no-op: ${noop.events.mean} events, ${noop.workflowTasks.mean} workflow tasks`,
  );
}
