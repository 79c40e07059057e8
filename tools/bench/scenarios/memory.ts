/**
 * Worker memory with manual sagas waiting: `--waiting` orders with confirmation manual and a two-hour
 * window are posted; once each has debited and waits (OrderStatus = AWAITING_CONFIRMATION in Temporal's
 * visibility), the RSS of the stack's worker and of the Temporal dev server is read from /proc.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { findProcesses } from '../../chaos/stack';
import type { BenchContext } from '../lib/context';
import { rssMiB } from '../lib/machine';
import { postOrder } from '../lib/targets';
import type { MemorySample } from '../report/results';

/** The RSS of the stack's (first) worker and of its Temporal dev server, now. */
function rss(stackPid: number): { workerRssMiB: number | null; temporalRssMiB: number | null } {
  const [worker] = findProcesses(stackPid, 'worker');
  const [temporal] = findProcesses(stackPid, 'temporal');
  return { workerRssMiB: worker === undefined ? null : (rssMiB(worker) ?? null), temporalRssMiB: temporal === undefined ? null : (rssMiB(temporal) ?? null) };
}

/** The SDK's default maxCachedWorkflows (reuseV8Context): from the heap limit, the same on this machine for the worker. */
const stickyCacheDefault = () => Math.max(Math.floor((Math.max(v8.getHeapStatistics().heap_size_limit / 2 ** 20 - 200, 0) * 600) / 1024), 10);

async function waitingCount(ctx: BenchContext): Promise<number> {
  const query = `OrderStatus = "AWAITING_CONFIRMATION" AND WorkflowId STARTS_WITH "order-${ctx.run}-w-"`;
  try {
    return await ctx.client.workflow.count(query).then((c) => c.count);
  } catch {
    // No count on this server: fall back to the orders whose debit applied (the step just before the wait).
    const { rows } = await ctx.pool.query<{ n: string }>(
      `select count(*) as n from saga_steps where step = 'debit' and state = 'applied' and order_id like $1`,
      [`${ctx.run}-w-%`],
    );
    return Number(rows[0]!.n);
  }
}

export async function waitingMemory(ctx: BenchContext): Promise<void> {
  const { flags, workload, stack, log } = ctx;
  const n = flags.waiting;
  const [worker] = findProcesses(stack.stackPid, 'worker');
  const before = rss(stack.stackPid);
  log(`worker memory: ${n} manual orders (confirmWithin 2 hours) left waiting ...`);
  const first = ctx.indexes.waiting.take(n);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: flags.concurrency }, async () => {
      for (let k = next++; k < n; k = next++) {
        const { messageId, ...body } = workload.request('waiting', first + k);
        for (let attempt = 1; ; attempt++) {
          const answer = await postOrder(stack.apiUrl, { ...body, confirmation: 'manual', confirmWithin: '2 hours' }, messageId);
          if (answer.status === 202 || answer.status === 200) break;
          if (attempt >= 5) throw new Error(`POST ${messageId}: HTTP ${answer.status}`);
          await sleep(1_000);
        }
      }
    }),
  );
  let waiting = 0;
  const samples: MemorySample[] = [];
  const deadline = t0 + flags.waitingTimeoutSeconds * 1000;
  for (let lastLog = 0; performance.now() < deadline; await sleep(1_000)) {
    waiting = await waitingCount(ctx);
    if (waiting >= n) break;
    if (performance.now() - lastLog > 15_000) {
      const sample = { atSecond: Math.round((performance.now() - t0) / 1000), waiting, ...rss(stack.stackPid) };
      samples.push(sample);
      log(`  ${waiting}/${n} waiting; worker RSS ${sample.workerRssMiB} MiB, Temporal ${sample.temporalRssMiB} MiB`);
      lastLog = performance.now();
    }
  }
  const secondsToWait = Math.round((performance.now() - t0) / 100) / 10;
  await sleep(3_000);
  const [workerNow] = findProcesses(stack.stackPid, 'worker');
  const after = rss(stack.stackPid);
  ctx.results.memory = {
    requested: n,
    waiting,
    secondsToWait,
    workerRssBeforeMiB: before.workerRssMiB,
    workerRssAfterMiB: after.workerRssMiB,
    temporalRssBeforeMiB: before.temporalRssMiB,
    temporalRssAfterMiB: after.temporalRssMiB,
    stickyCacheDefault: stickyCacheDefault(),
    samples,
  };
  if (workerNow !== worker) ctx.results.notes.push('the stack restarted its worker during the memory run: the RSS after is a fresh process');
  if (waiting < n) ctx.results.notes.push(`only ${waiting} of ${n} manual sagas were waiting after --waiting-timeout ${flags.waitingTimeoutSeconds}s`);
  log(`  ${waiting} waiting after ${secondsToWait}s; worker RSS ${before.workerRssMiB} -> ${after.workerRssMiB} MiB`);
}
