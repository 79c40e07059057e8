/**
 * `npm run screenshots`: the README's pictures of the real Temporal Web UI. Starts a stack of its own
 * on free ports (a pinned Worker Deployment), runs a few orders through REST (confirmed, cancelled by
 * the customer, and cancelled with a compensation), then photographs the UI with headless Chromium
 * (Debian's `chromium`: `apt-get install chromium`).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startOwnStack } from '../tools/chaos/stack';
import { insertAccount } from '../db/accounts';
import { upsertInventoryAvailable } from '../db/inventory';
import { createPool } from '../db/pool';
import { selectProcessedMessage } from '../db/processed-messages';
import { runCommand } from '../lib/cli';
import { freePort } from '../tools/stack/ports';
import { repoRoot } from '../tools/stack/servers';

const outDir = path.join(repoRoot, 'docs', 'ui');
const chromium = process.env.CHROMIUM ?? 'chromium';

function shoot(url: string, file: string, height = 900): void {
  const out = path.join(outDir, file);
  const run = spawnSync(
    chromium,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      `--window-size=1440,${height}`,
      '--virtual-time-budget=20000',
      `--screenshot=${out}`,
      url,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (run.error || run.status !== 0) throw new Error(`${chromium} failed on ${url}: ${run.error?.message ?? run.stderr.slice(-500)}`);
  process.stdout.write(`wrote ${path.relative(repoRoot, out)}  (${url})\n`);
}

async function main(): Promise<number> {
  if (spawnSync(chromium, ['--version']).status !== 0) throw new Error(`${chromium} not found: apt-get install chromium, or set CHROMIUM`);
  mkdirSync(outDir, { recursive: true });
  const uiPort = await freePort();
  const stack = await startOwnStack({ TEMPORAL_UI_PORT: String(uiPort), WORKER_VERSIONING: 'pinned', WORKERS: '2' });
  const pool = createPool({ connectionString: stack.databaseUrl, max: 2 });
  try {
    await insertAccount(pool, { id: 'alice', openingBalanceCents: 50_000 });
    await insertAccount(pool, { id: 'bob', openingBalanceCents: 500 });
    for (const sku of ['mug-blue', 'tea-sencha']) await upsertInventoryAvailable(pool, { sku, available: 100 });
    const post = async (url: string, body: unknown) => {
      const res = await fetch(`${stack.apiUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status >= 300) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
    };
    const items = [
      { sku: 'mug-blue', quantity: 2, unitPriceCents: 1999 },
      { sku: 'tea-sencha', quantity: 1, unitPriceCents: 850 },
    ];
    await post('/orders', { messageId: 'ord-1001', customerId: 'alice', items });
    await post('/orders', { messageId: 'ord-1002', customerId: 'bob', items }); // 48.48 on 5.00: debit refused, stock released
    await post('/orders', { messageId: 'ord-1003', customerId: 'alice', items, confirmation: 'manual', confirmWithin: '2 hours' });
    await post('/orders', { messageId: 'ord-1004', customerId: 'alice', items: items.slice(0, 1), confirmation: 'manual' });
    await post('/orders', { messageId: 'ord-1005', customerId: 'alice', items: items.slice(1), confirmation: 'manual' });
    await sleep(3_000);
    await post('/orders/ord-1004/cancel', { reason: 'customer changed their mind' });
    await post('/orders/ord-1005/confirm', {});
    await sleep(3_000);

    const ui = `http://127.0.0.1:${uiPort}/namespaces/default`;
    shoot(`${ui}/workflows?query=${encodeURIComponent('OrderStatus="CANCELLED"')}`, 'list-cancelled.png');
    const run = `${ui}/workflows/order-ord-1002/${(await selectProcessedMessage(pool, 'ord-1002'))!.run_id}`;
    shoot(`${run}/history`, 'history-compensation.png', 1900);
    shoot(`${run}/user-metadata`, 'summary-details.png');
    shoot(`${ui}/worker-deployments/saga-orchestrator`, 'worker-deployment.png');
    return 0;
  } finally {
    await pool.end();
    await stack.stop();
    stack.discard();
  }
}

runCommand(main, 'usage: npm run screenshots');
