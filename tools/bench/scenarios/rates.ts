/**
 * Section 1 and 2: the maximum rate of the service and of each reference (closed loop, same order mix,
 * same producers), PostgreSQL's ceiling, then open-loop steps at 25%, 50% and 100% of the service's
 * maximum against the service and, at the same offered rates, the no-op and classic references.
 * Service and references alternate, so the machine's noise falls on all of them alike.
 */
import type { BenchContext } from '../lib/context';
import { closedLoop, openLoop, type RunResult, type Target } from '../lib/drive';
import { ratio } from '../lib/stats';
import type { OrderKind } from '../lib/workload';
import { measuredScenario, scenarioFrom } from '../report/results';
import { pgCeiling } from './pg-ceiling';
import { cpuPerOrderMs, cpuSnapshot } from '../lib/cpu';

export const steps = [25, 50, 100] as const;

const runTimeoutMs = (count: number) => Math.max(300_000, count * 1_000);

export async function closed(ctx: BenchContext, kind: OrderKind & keyof BenchContext['targets'], count: number): Promise<{ first: number; result: RunResult }> {
  const first = ctx.indexes[kind].take(count);
  const result = await closedLoop(ctx.targets[kind], first, count, ctx.flags.concurrency, runTimeoutMs(count));
  return { first, result };
}

export async function warmUp(ctx: BenchContext): Promise<void> {
  const n = ctx.flags.quick ? 10 : 30;
  ctx.log(`warm-up: ${n} orders through each system (not measured)`);
  await Promise.all([closed(ctx, 'service', n), closed(ctx, 'noop', n), closed(ctx, 'noopLocal', n), closed(ctx, 'classic', n * 3)]);
}

/** Returns the first index of the service's max run (its orders are reused for duplicates and histories). */
export async function maximumRates(ctx: BenchContext): Promise<{ serviceFirst: number; noopFirst: number; serviceMax: number }> {
  const { flags, log, results } = ctx;
  const label = `closed loop, ${flags.concurrency} producers`;
  log(`service: ${flags.orders} orders, ${label} ...`);
  const measured = async (kind: OrderKind & keyof BenchContext['targets']) => {
    const before = cpuSnapshot(ctx.stack.stackPid, { noopWorker: ctx.noopWorkerPid });
    const run = await closed(ctx, kind, flags.orders);
    (results.cpuPerOrderMs ??= {})[kind] = cpuPerOrderMs(before, cpuSnapshot(ctx.stack.stackPid, { noopWorker: ctx.noopWorkerPid }), flags.orders);
    return run;
  };
  const service = await measured('service');
  log(`  ${service.result.ordersPerSec} orders/s`);
  log(`no-op reference, the saga's shape (local steps): ${flags.orders} workflows, ${label} ...`);
  const noopLocal = await measured('noopLocal');
  log(`  ${noopLocal.result.ordersPerSec} orders/s`);
  log(`no-op reference, the shape before S9 (activities on the server): ${flags.orders} workflows, ${label} ...`);
  const noop = await closed(ctx, 'noop', flags.orders);
  log(`  ${noop.result.ordersPerSec} orders/s`);
  log(`classic reference: ${flags.classicOrders} messages, ${label} ...`);
  const classic = await closed(ctx, 'classic', flags.classicOrders);
  log(`  ${classic.result.ordersPerSec} orders/s`);
  log(`PostgreSQL ceiling: ${flags.ceilingConnections} connections for ${flags.ceilingSeconds}s ...`);
  const pg = await pgCeiling(ctx.ref.pool, ctx.run, flags.ceilingConnections, flags.ceilingSeconds);
  log(`  ${pg.txPerSec} tx/s`);

  results.scenarios.push(
    scenarioFrom(`service max (${label})`, 'service max', 'service', service.result),
    scenarioFrom(`no-op workflow, local steps, max (${label})`, 'no-op local max', 'noop-local', noopLocal.result),
    scenarioFrom(`no-op workflow, pre-S9 shape, max (${label})`, 'no-op max', 'noop', noop.result),
    scenarioFrom(`classic consumer max (${label})`, 'classic max', 'classic', classic.result),
    measuredScenario({
      name: `PostgreSQL ceiling (${flags.ceilingConnections} connections)`,
      short: 'postgresql tx/s',
      system: 'postgres',
      ordersPerSec: pg.txPerSec,
      unit: 'tx/s',
      p50Ms: pg.latency.p50Ms,
      p95Ms: pg.latency.p95Ms,
      p99Ms: pg.latency.p99Ms,
      count: pg.transactions,
      note: 'versioned UPDATE + ledger INSERT, one transaction',
    }),
  );
  results.ratios.noopCeiling = ratio(service.result.ordersPerSec, noopLocal.result.ordersPerSec);
  results.ratios.noopBeforeS9 = ratio(service.result.ordersPerSec, noop.result.ordersPerSec);
  results.ratios.classic = ratio(service.result.ordersPerSec, classic.result.ordersPerSec);
  results.ratios.pgCeiling = ratio(service.result.ordersPerSec, pg.txPerSec);
  return { serviceFirst: service.first, noopFirst: noopLocal.first, serviceMax: service.result.ordersPerSec };
}

export async function openLoopSteps(ctx: BenchContext, serviceMax: number): Promise<void> {
  const { flags, log, results } = ctx;
  for (const pct of steps) {
    if (ctx.aborted()) return;
    const rate = Math.max(0.5, (serviceMax * pct) / 100);
    const count = Math.max(5, Math.round(rate * flags.stepSeconds));
    const run = async (kind: OrderKind & keyof BenchContext['targets'], target: Target) => {
      log(`${kind} at ${pct}% of the service's maximum: ${rate.toFixed(1)}/s for ${flags.stepSeconds}s (${count} orders) ...`);
      const r = await openLoop(target, ctx.indexes[kind].take(count), count, rate, runTimeoutMs(count));
      log(`  p50 ${r.endToEnd.p50Ms} ms, p99 ${r.endToEnd.p99Ms} ms`);
      return r;
    };
    const service = await run('service', ctx.targets.service);
    const noop = await run('noopLocal', ctx.targets.noopLocal);
    const classic = await run('classic', ctx.targets.classic);
    const at = `${pct}% (${rate.toFixed(1)}/s open loop)`;
    results.scenarios.push(
      scenarioFrom(`service at ${at}`, `service ${pct}%`, 'service', service),
      scenarioFrom(`no-op workflow, local steps, at ${at}`, `no-op local ${pct}%`, 'noop-local', noop),
      scenarioFrom(`classic consumer at ${at}`, `classic ${pct}%`, 'classic', classic),
    );
    results.ratios.latency.push({
      step: `${pct}%`,
      p50VsNoop: ratio(service.workflowClosed?.p50Ms ?? Number.NaN, noop.endToEnd.p50Ms),
      p99VsNoop: ratio(service.workflowClosed?.p99Ms ?? Number.NaN, noop.endToEnd.p99Ms),
      p50VsClassic: ratio(service.endToEnd.p50Ms, classic.endToEnd.p50Ms),
      p99VsClassic: ratio(service.endToEnd.p99Ms, classic.endToEnd.p99Ms),
    });
  }
}
