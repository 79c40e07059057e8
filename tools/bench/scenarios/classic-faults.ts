/**
 * Reference (b) under the chaos faults that apply to it: messages produced at a steady rate while the
 * classic consumer is killed with SIGKILL (and started again half a second later, as a supervisor
 * would) and PostgreSQL is restarted (fast shutdown; the stack's supervisor starts it again). Then the
 * count: lost, applied twice, ledger balanced, redeliveries its processed_messages row absorbed. Last, a
 * message that can never apply (its customer has no money) followed by 50 good ones in its partition.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { findProcesses } from '../../chaos/stack';
import { spawnTs, waitForLine, type Child } from '../lib/children';
import type { BenchContext } from '../lib/context';
import { classicEnv, createTopic } from '../lib/kafka';
import { unitPriceCents } from '../lib/workload';
import type { ClassicFaults } from '../report/results';

const entry = 'tools/bench/reference/classic-consumer.ts';

async function countApplied(ctx: BenchContext, ids: string[]): Promise<number> {
  const { rows } = await ctx.ref.pool.query<{ n: string }>('select count(*) as n from orders where id = any($1)', [ids]);
  return Number(rows[0]!.n);
}

export async function classicUnderFaults(ctx: BenchContext): Promise<void> {
  const { run, flags, workload, producer, log } = ctx;
  const topic = `bench.classic.faults.${run}`;
  const group = `bench-classic-faults-${run}`;
  await createTopic(ctx.stack.brokers, topic);
  const env = classicEnv(ctx, topic, group);
  const consumers: Child[] = [];
  const startConsumer = async () => {
    const child = spawnTs(`classic consumer ${consumers.length + 1}`, entry, env);
    consumers.push(child);
    await waitForLine(child, (l) => l === 'ready', 60_000);
    return child;
  };
  let current = await startConsumer();
  const n = flags.faultMessages;
  const seconds = flags.quick ? 8 : 20;
  const first = ctx.indexes.fault.take(n);
  const ids = Array.from({ length: n }, (_, k) => workload.id('fault', first + k));
  log(`classic consumer under faults: ${n} messages over ${seconds}s, kill -9 at 30%, PostgreSQL restart at 60% ...`);
  const faults: { kind: string; atSecond: number }[] = [];
  const t0 = performance.now();
  const at = () => Math.round((performance.now() - t0) / 100) / 10;
  const injected = (async () => {
    await sleep(seconds * 300);
    await current.kill9();
    faults.push({ kind: 'kill -9 classic consumer', atSecond: at() });
    await sleep(500);
    current = await startConsumer();
    await sleep(Math.max(0, t0 + seconds * 600 - performance.now()));
    const [pg] = findProcesses(ctx.stack.stackPid, 'postgres');
    if (pg !== undefined) {
      process.kill(pg, 'SIGINT');
      faults.push({ kind: 'PostgreSQL restart (fast shutdown)', atSecond: at() });
    }
  })().then(
    () => undefined,
    (err: unknown) => err,
  );
  for (let k = 0; k < n; k++) {
    await sleep(Math.max(0, t0 + (k * seconds * 1000) / n - performance.now()));
    const request = workload.request('fault', first + k);
    await producer.send({ topic, acks: -1, messages: [{ key: request.customerId, value: JSON.stringify(request) }] });
  }
  const injectionFailed = await injected;
  if (injectionFailed) throw injectionFailed instanceof Error ? injectionFailed : new Error('fault injection failed', { cause: injectionFailed });
  const produced = performance.now();
  let applied = 0;
  while (performance.now() - produced < 180_000) {
    applied = await countApplied(ctx, ids).catch(() => applied);
    if (applied >= n) break;
    await sleep(250);
  }
  const secondsToDrain = Math.round((performance.now() - produced) / 100) / 10;
  const { rows: doubled } = await ctx.ref.pool.query<{ n: string }>(
    `select count(*) as n from (select order_id from ledger where order_id = any($1) group by order_id, kind having count(*) > 1) d`,
    [ids],
  );
  const { rows: unbalanced } = await ctx.ref.pool.query<{ n: string }>(
    `select count(*) as n from accounts a
      where a.balance_cents <> a.opening_balance_cents + coalesce((select sum(amount_cents) from ledger l where l.account_id = a.id), 0)`,
  );
  const lines = consumers.flatMap((c) => c.lines);

  // A message that can never apply, then 50 good ones behind it in the same partition.
  const poor = `${run}-poor`;
  await ctx.ref.pool.query(`insert into accounts (id, opening_balance_cents, balance_cents) values ($1, 0, 0) on conflict do nothing`, [poor]);
  const poison = { messageId: `${run}-poison`, customerId: poor, items: [{ sku: workload.skus[0]!, quantity: 1, unitPriceCents }] };
  const behindFirst = ctx.indexes.fault.take(50);
  const behind = Array.from({ length: 50 }, (_, k) => workload.request('fault', behindFirst + k));
  await producer.send({ topic, acks: -1, messages: [poison, ...behind].map((m) => ({ partition: 0, value: JSON.stringify(m) })) });
  await sleep(5_000);
  const processedWithin5s = await countApplied(
    ctx,
    behind.map((m) => m.messageId),
  );
  await Promise.all(consumers.map((c) => c.stop()));

  const result: ClassicFaults = {
    messages: n,
    applied,
    lost: n - applied,
    doubled: Number(doubled[0]!.n),
    ledgerBalanced: Number(unbalanced[0]!.n) === 0,
    redeliveredAndDeduped: lines.filter((l) => l.startsWith('duplicate ')).length,
    transactionRetries: lines.filter((l) => l.startsWith('retry ') && !l.startsWith(`retry ${poison.messageId}`)).length,
    faults,
    secondsToDrain,
    poison: { behind: behind.length, processedWithin5s },
    cannot: [
      'no compensation: a message that cannot apply (no money, no stock) is retried forever or must be dropped by hand; nothing is refunded or released',
      'no check-backs, timers or manual confirmation: everything happens in the one transaction or not at all',
      `a poison message blocks its partition: ${behind.length - processedWithin5s} of ${behind.length} messages behind it waited (measured over 5 s)`,
    ],
  };
  ctx.results.classicFaults = result;
  log(
    `  lost ${result.lost}, doubled ${result.doubled}, ledger balanced ${result.ledgerBalanced}, redelivered and deduped ${result.redeliveredAndDeduped}, retries ${result.transactionRetries}`,
  );
  log(`  poison message: ${processedWithin5s}/${behind.length} messages behind it processed within 5 s`);
}
