/**
 * Duplicate POSTs: orders already accepted (and confirmed) are posted again with the same key and
 * body, `concurrency` at a time. Each must answer 200 with duplicate: true; the start function
 * answers from processed_messages without asking Temporal.
 */
import type { BenchContext } from '../lib/context';
import { summarize } from '../lib/stats';
import { postOrder } from '../lib/targets';
import { measuredScenario } from '../report/results';

export async function duplicatePosts(ctx: BenchContext, first: number, distinct: number): Promise<void> {
  const { flags, workload, stack } = ctx;
  ctx.log(`duplicate POSTs: ${flags.duplicates} of ${distinct} accepted orders, ${flags.concurrency} concurrent ...`);
  const latencies: number[] = [];
  let next = 0;
  let wrong = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: flags.concurrency }, async () => {
      for (let n = next++; n < flags.duplicates; n = next++) {
        const { messageId, ...body } = workload.request('service', first + (n % distinct));
        const t0 = performance.now();
        const answer = await postOrder(stack.apiUrl, body, messageId);
        latencies.push(performance.now() - t0);
        if (answer.status !== 200 || (answer.body as { duplicate?: boolean }).duplicate !== true) wrong++;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const s = summarize(latencies);
  if (wrong > 0) throw new Error(`${wrong} duplicate POSTs were not answered 200 duplicate`);
  ctx.results.scenarios.push(
    measuredScenario({
      name: `duplicate POST (${flags.concurrency} concurrent)`,
      short: 'duplicate post req/s',
      system: 'service',
      ordersPerSec: Math.round((flags.duplicates / seconds) * 10) / 10,
      unit: 'requests/s',
      p50Ms: s.p50Ms,
      p95Ms: s.p95Ms,
      p99Ms: s.p99Ms,
      count: flags.duplicates,
      acceptP50Ms: s.p50Ms,
      acceptP99Ms: s.p99Ms,
      note: '200 duplicate: true, answered from processed_messages',
    }),
  );
  ctx.log(`  p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms`);
}
