/**
 * The two intake layouts side by side: the stack's API (workers in their own processes) and an API with
 * INTAKE_LAYOUT=worker beside it (its own worker, sagas started eagerly on it). Throughput in closed loop
 * against the no-op workflow of the saga's shape; then, at half the separate layout's maximum, POST →
 * CONFIRMED read three ways: the database poll after a 202 (today's answer), and the answer of a POST with
 * `Prefer: wait` on each layout. Runs alternate, so the machine's noise falls on all alike.
 */
import { freePort } from '../../stack/ports';
import { spawnTs } from '../lib/children';
import type { BenchContext } from '../lib/context';
import { closedLoop, openLoop, type RunResult, type Target } from '../lib/drive';
import { ratio } from '../lib/stats';
import { serviceTarget } from '../lib/targets';
import type { OrderKind } from '../lib/workload';
import { scenarioFrom } from '../report/results';

const runTimeoutMs = (count: number) => Math.max(300_000, count * 1_000);
const WAIT_SECONDS = 10;

/** POST /orders with `Prefer: wait`: done when the answer says CONFIRMED. */
function waitingTarget(apiUrl: string, ctx: BenchContext, kind: OrderKind): Target {
  const answered = new Map<number, number>();
  return {
    async send(i) {
      const { messageId, ...body } = ctx.workload.request(kind, i);
      const response = await fetch(`${apiUrl}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': messageId, prefer: `wait=${WAIT_SECONDS}` },
        body: JSON.stringify(body),
      });
      const answer = (await response.json()) as { status?: string };
      answered.set(i, performance.now());
      if (response.status !== 200 || answer.status !== 'CONFIRMED')
        throw new Error(`POST ${messageId} with wait: HTTP ${response.status} ${JSON.stringify(answer).slice(0, 200)}`);
    },
    done: (i) => Promise.resolve(answered.get(i)!).finally(() => answered.delete(i)),
  };
}

export async function eagerLayout(ctx: BenchContext): Promise<void> {
  const { flags, log, results, stack } = ctx;
  const port = await freePort();
  const api = spawnTs('eager api', 'api/server.ts', {
    ...process.env,
    DATABASE_URL: stack.databaseUrl,
    TEMPORAL_ADDRESS: stack.temporalAddress,
    KAFKA_BROKERS: stack.brokers.join(','),
    API_PORT: String(port),
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    INTAKE_LAYOUT: 'worker',
    WORKER_VERSIONING: 'pinned',
    WORKER_DEPLOYMENT_PROMOTE: 'when-current-idle',
    WORKER_METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
  });
  const eagerUrl = `http://127.0.0.1:${port}`;
  try {
    log(`eager layout: an API with its own worker on :${port} beside the stack's ...`);
    const deadline = Date.now() + 120_000;
    while (
      !(await fetch(`${eagerUrl}/healthz`)
        .then((r) => r.ok)
        .catch(() => false))
    ) {
      if (Date.now() > deadline) throw new Error('the eager API did not come up in 120 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const targets = {
      separate: serviceTarget(stack.apiUrl, ctx.client, ctx.workload, ctx.servicePoller, 'service'),
      eager: serviceTarget(eagerUrl, ctx.client, ctx.workload, ctx.servicePoller, 'eager'),
      separateWait: waitingTarget(stack.apiUrl, ctx, 'waitSeparate'),
      eagerWait: waitingTarget(eagerUrl, ctx, 'eager'),
    };
    const closed = (kind: OrderKind, target: Target, count: number) =>
      closedLoop(target, ctx.indexes[kind].take(count), count, flags.concurrency, runTimeoutMs(count));
    // Warm-up (not measured): the eager API's worker bundles, caches and becomes current like any other.
    await closed('eager', targets.eagerWait, 20);
    await closed('waitSeparate', targets.separateWait, 20);

    const label = `closed loop, ${flags.concurrency} producers`;
    log(`  throughput, ${flags.orders} orders each, ${label}: separate, eager, no-op ...`);
    const separateMax = await closed('service', targets.separate, flags.orders);
    const eagerMax = await closed('eager', targets.eager, flags.orders);
    const noopMax = await closed('noopLocal', ctx.targets.noopLocal, flags.orders);
    log(`  separate ${separateMax.ordersPerSec}/s, eager ${eagerMax.ordersPerSec}/s, no-op ${noopMax.ordersPerSec}/s`);

    const rate = Math.max(0.5, separateMax.ordersPerSec / 2);
    const count = Math.max(5, Math.round(rate * flags.stepSeconds));
    const at = `50% (${rate.toFixed(1)}/s open loop)`;
    const open = async (kind: OrderKind, target: Target, what: string): Promise<RunResult> => {
      log(`  ${what} at ${at}, ${count} orders ...`);
      const r = await openLoop(target, ctx.indexes[kind].take(count), count, rate, runTimeoutMs(count));
      log(`    p50 ${r.endToEnd.p50Ms} ms, p99 ${r.endToEnd.p99Ms} ms`);
      return r;
    };
    const separatePoll = await open('service', targets.separate, 'separate, 202 then the database poll');
    const separateWait = await open('waitSeparate', targets.separateWait, 'separate, Prefer: wait');
    const eagerWait = await open('eager', targets.eagerWait, 'eager, Prefer: wait');
    const noopOpen = await open('noopLocal', ctx.targets.noopLocal, 'no-op workflow, local steps');

    results.scenarios.push(
      scenarioFrom(`separate layout max (${label})`, 'separate max', 'service', separateMax),
      scenarioFrom(`eager layout max (${label})`, 'eager max', 'service', eagerMax, 'INTAKE_LAYOUT=worker: the API starts sagas eagerly on its own worker'),
      scenarioFrom(`no-op workflow, local steps, max (${label}, beside the layouts)`, 'no-op local max (layouts)', 'noop-local', noopMax),
      scenarioFrom(`separate layout at ${at}, 202 then the database poll`, 'separate 50% poll', 'service', separatePoll),
      scenarioFrom(`separate layout at ${at}, Prefer: wait`, 'separate 50% wait', 'service', separateWait, 'POST answered 200 CONFIRMED'),
      scenarioFrom(`eager layout at ${at}, Prefer: wait`, 'eager 50% wait', 'service', eagerWait, 'POST answered 200 CONFIRMED'),
      scenarioFrom(`no-op workflow, local steps, at ${at} (beside the layouts)`, 'no-op local 50% (layouts)', 'noop-local', noopOpen),
    );
    results.ratios.layouts = {
      separateVsNoop: ratio(separateMax.ordersPerSec, noopMax.ordersPerSec),
      eagerVsNoop: ratio(eagerMax.ordersPerSec, noopMax.ordersPerSec),
      eagerVsSeparate: ratio(eagerMax.ordersPerSec, separateMax.ordersPerSec),
      waitP50VsPoll: ratio(separateWait.endToEnd.p50Ms, separatePoll.endToEnd.p50Ms),
      eagerWaitP50VsPoll: ratio(eagerWait.endToEnd.p50Ms, separatePoll.endToEnd.p50Ms),
      eagerWaitP99VsPoll: ratio(eagerWait.endToEnd.p99Ms, separatePoll.endToEnd.p99Ms),
    };
  } catch (err) {
    // The API's own warnings say why it answered as it did; its log goes nowhere else.
    const warnings = api.lines.filter((line) => /"level":[456]0\b/.test(line)).slice(-3);
    if (warnings.length === 0) throw err;
    throw new Error(`${err instanceof Error ? err.message : String(err)}; the eager API's last warnings:\n${warnings.join('\n')}`, { cause: err });
  } finally {
    await api.stop();
  }
}
