import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { startOwnStack } from '../chaos/stack';

// npm start with TEMPORAL_PERSISTENCE=postgres on free ports: one auto order to CONFIRMED, then a clean stop.
async function main(): Promise<void> {
  const t0 = Date.now();
  const stack = await startOwnStack({ TEMPORAL_PERSISTENCE: process.env.TEMPORAL_PERSISTENCE ?? 'postgres' });
  console.log(`up in ${((Date.now() - t0) / 1000).toFixed(1)}s; logs ${stack.logDir}`);
  const children = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(stack.stackPid)], { encoding: 'utf8' }).stdout;
  console.log(
    children
      .split('\n')
      .map((l) => l.slice(0, 140))
      .join('\n'),
  );
  try {
    const call = async (method: string, path: string, body?: unknown, key?: string) => {
      const headers: Record<string, string> = body ? { 'content-type': 'application/json' } : {};
      if (key) headers['idempotency-key'] = key;
      const res = await fetch(stack.apiUrl + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const id = `smoke-${Date.now()}`;
    console.log('account', (await call('POST', '/accounts', { accountId: `c-${id}`, openingBalanceCents: 100_000 })).status);
    console.log('stock', (await call('PUT', `/inventory/sku-${id}`, { available: 10 })).status);
    const order = await call('POST', '/orders', { customerId: `c-${id}`, items: [{ sku: `sku-${id}`, quantity: 2, unitPriceCents: 1_250 }] }, id);
    console.log('order', order.status, JSON.stringify(order.json));
    const started = Date.now();
    for (;;) {
      const { json } = await call('GET', `/orders/${id}`);
      const state = json.state ?? json.status;
      if (state === 'CONFIRMED' || state === 'CANCELLED' || Date.now() - started > 60_000) {
        console.log(`order ${id}: ${String(state)} after ${Date.now() - started} ms; ${JSON.stringify(json)}`);
        break;
      }
      await sleep(200);
    }
  } finally {
    const t1 = Date.now();
    await stack.stop();
    console.log(`stopped in ${((Date.now() - t1) / 1000).toFixed(1)}s`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
