/**
 * Order throughput against a running stack (`npm start` in another terminal):
 *   npx tsx bench/orders.ts            ORDERS=1000 CONCURRENCY=32 API_URL=… DATABASE_URL=…
 * Prints intake latency (p50/p99), intake and end-to-end throughput, and the memory of each process.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const apiUrl = process.env.API_URL ?? 'http://127.0.0.1:3000';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/orders';
const orders = Number(process.env.ORDERS ?? 1000);
const concurrency = Number(process.env.CONCURRENCY ?? 32);
const run = `bench-${randomUUID().slice(0, 8)}`;

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

function rssMb(pattern: string): string {
  const ps = spawnSync('ps', ['-eo', 'rss,args'], { encoding: 'utf8' }).stdout.split('\n');
  const kb = ps.filter((l) => l.includes(pattern) && !l.includes('ps -eo')).reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0]), 0);
  return `${(kb / 1024).toFixed(0)} MB`;
}

async function main(): Promise<void> {
  const account = `${run}-acct`;
  const sku = `${run}-sku`;
  if ((await call('POST', '/accounts', { accountId: account, openingBalanceCents: orders * 1_000 })).status !== 201) throw new Error(`is the stack up at ${apiUrl}?`);
  await call('PUT', `/inventory/${sku}`, { available: orders });

  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < orders) {
        const i = next++;
        const t0 = performance.now();
        const { status } = await call('POST', '/orders', { customerId: account, items: [{ sku, quantity: 1, unitPriceCents: 999 }] }, { 'idempotency-key': `${run}-${i}` });
        if (status !== 202) throw new Error(`order ${i}: HTTP ${status}`);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const accepted = performance.now();

  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  let confirmed = 0;
  while (confirmed < orders) {
    const { rows } = await db.query<{ n: string }>(`select count(*) as n from orders where customer_id = $1 and status = 'CONFIRMED'`, [account]);
    confirmed = Number(rows[0]!.n);
    if (performance.now() - started > 600_000) throw new Error(`only ${confirmed}/${orders} confirmed after 10 minutes`);
    if (confirmed < orders) await new Promise((r) => setTimeout(r, 100));
  }
  const done = performance.now();
  const { rows: balance } = await db.query<{ balance_cents: string }>('select balance_cents from accounts where id = $1', [account]);
  await db.end();

  const sorted = [...latencies].sort((a, b) => a - b);
  const expectedBalance = orders * 1_000 - orders * 999 + orders * 9;
  console.log(`orders: ${orders}, client concurrency: ${concurrency}, one account (every debit contends on one row)`);
  console.log(`intake  POST /orders: p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`);
  console.log(`intake  throughput: ${(orders / ((accepted - started) / 1000)).toFixed(0)} orders/s`);
  console.log(`end-to-end (accepted -> CONFIRMED, reward paid): ${(orders / ((done - started) / 1000)).toFixed(0)} orders/s, all done in ${((done - started) / 1000).toFixed(1)} s`);
  console.log(`final balance ${balance[0]!.balance_cents} (expected ${expectedBalance}): ${Number(balance[0]!.balance_cents) === expectedBalance ? 'exact' : 'WRONG'}`);
  console.log(`memory (RSS): worker ${rssMb('worker/main.ts')}, api ${rssMb('api/server.ts')}, consumer ${rssMb('consumer/main.ts')}, temporal ${rssMb('temporal server start-dev')}, postgres ${rssMb('postgres')}, kafka ${rssMb('kafka.Kafka')}`);
}

main().catch((err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
