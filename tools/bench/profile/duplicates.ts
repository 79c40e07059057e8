/**
 * Where a duplicate POST /orders spends its time: an API process under --cpu-prof, answering copies of
 * orders already accepted (their rows seeded directly: no Temporal involved), 32 concurrent by default.
 *   npx tsx tools/bench/profile/duplicates.ts [requests] [concurrency] [baseline checkout]
 * Prints the API's CPU per request, latency p50/p99, and the functions with the most self time. With a
 * baseline checkout (e.g. `git worktree add /tmp/base <commit>` plus its node_modules), its API runs the
 * same load against the same database, three rounds alternating with this one, and the ratios are printed.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../../../db/migrate';
import { createPool } from '../../../db/pool';
import { fingerprint } from '../../../intake/fingerprint';
import { freePort } from '../../stack/ports';
import { readToolchain, repoRoot, startPostgres } from '../../stack/servers';
import { treeCpuSeconds } from '../lib/proc-cpu';
import { summarize } from '../lib/stats';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

async function main(): Promise<void> {
  const requests = Number(process.argv[2] ?? 4_000);
  const concurrency = Number(process.argv[3] ?? 32);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'dup-profile-'));
  chmodSync(scratch, 0o755);
  const toolchain = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'));
  const pg = await startPostgres({
    pgBin: toolchain.PG_BIN,
    dataDir: path.join(scratch, 'pg'),
    port: await freePort(),
    database: 'orders',
    logFile: path.join(scratch, 'pg.log'),
  });
  const pool = createPool({ connectionString: pg.url, max: 2 });
  await migrate(pool);
  const orders = Array.from({ length: 200 }, (_, i) => ({
    messageId: `dup-${i}`,
    customerId: `acct-${i % 16}`,
    items: [{ sku: `sku-${i % 8}`, quantity: 1, unitPriceCents: 999 }],
  }));
  for (const o of orders) {
    await pool.query(`insert into orders (id, customer_id, items, total_cents, status, confirmation) values ($1, $2, $3, 999, 'CONFIRMED', 'auto')`, [
      o.messageId,
      o.customerId,
      JSON.stringify(o.items),
    ]);
    await pool.query(`insert into processed_messages (message_id, workflow_id, run_id, source, fingerprint) values ($1, $2, 'run', 'rest', $3)`, [
      o.messageId,
      `order-${o.messageId}`,
      fingerprint(o),
    ]);
  }
  await pool.end();

  const baseline = process.argv[4];
  const profDir = path.join(scratch, 'prof');
  const rounds: { root: string; label: string; profile: boolean }[] = baseline
    ? [0, 1, 2].flatMap((i) => [
        { root: repoRoot, label: 'this checkout', profile: i === 0 },
        { root: path.resolve(baseline), label: 'baseline', profile: false },
      ])
    : [{ root: repoRoot, label: 'this checkout', profile: true }];
  const measured: { label: string; rps: number; p50: number; p99: number; cpuMs: number }[] = [];
  for (const round of rounds) {
    const r = await measure(round.root, round.profile ? profDir : undefined, pg.url, orders, requests, concurrency);
    measured.push({ label: round.label, ...r });
    process.stderr.write(`${round.label}: ${r.rps} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, CPU ${r.cpuMs} ms per request\n`);
  }
  await pg.stop();

  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))!;
  const profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const f = byNode.get(id)!.callFrame;
    const where = f.url ? `${f.url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byPackage = new Map<string, number>();
  for (const [key, us] of self) {
    const pkg = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(key)?.[1] ?? (key.includes('node:') || !key.includes('/') ? '(node, GC, idle)' : '(app)');
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const median = (label: string, key: 'rps' | 'p50' | 'p99' | 'cpuMs') => {
    const values = measured
      .filter((m) => m.label === label)
      .map((m) => m[key])
      .sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)]!;
  };
  const figures = (label: string) =>
    `${median(label, 'rps')} req/s; p50 ${median(label, 'p50')} ms, p99 ${median(label, 'p99')} ms; API CPU ${median(label, 'cpuMs')} ms per request`;
  const lines = [
    `duplicate POST /orders: ${requests} requests, ${concurrency} concurrent, median of ${measured.filter((m) => m.label === 'this checkout').length}: ${figures('this checkout')}`,
    ...(baseline
      ? [
          `baseline (${baseline}): ${figures('baseline')}`,
          `ratios (this / baseline): req/s ${(median('this checkout', 'rps') / median('baseline', 'rps')).toFixed(2)}, p99 ${(median('this checkout', 'p99') / median('baseline', 'p99')).toFixed(2)}, CPU ${(median('this checkout', 'cpuMs') / median('baseline', 'cpuMs')).toFixed(2)}`,
        ]
      : []),
    'self time by package (whole profile, idle included):',
    ...[...byPackage]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([k, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`),
    'top functions by self time:',
    ...[...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([k, us]) => `  ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  rmSync(scratch, { recursive: true, force: true });
}

async function measure(
  root: string,
  profDir: string | undefined,
  databaseUrl: string,
  orders: { messageId: string; customerId: string; items: unknown[] }[],
  requests: number,
  concurrency: number,
): Promise<{ rps: number; p50: number; p99: number; cpuMs: number }> {
  const port = await freePort();
  const api = spawn(process.execPath, [...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), '--import', 'tsx', path.join(root, 'api/server.ts')], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, API_PORT: String(port), TEMPORAL_ADDRESS: '127.0.0.1:1', API_RATE_LIMIT_PER_MINUTE: '10000000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (
    let i = 0;
    !(await fetch(`${url}/healthz`)
      .then((r) => r.ok)
      .catch(() => false));
    i++
  ) {
    if (i > 600) throw new Error('the API did not come up');
    await new Promise((r) => setTimeout(r, 100));
  }
  const post = async (n: number) => {
    const { messageId, ...body } = orders[n % orders.length]!;
    const t0 = performance.now();
    const response = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': messageId },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
    return performance.now() - t0;
  };
  for (let i = 0; i < 500; i++) await post(i); // warm-up
  const cpu0 = treeCpuSeconds(api.pid!);
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let n = next++; n < requests; n = next++) latencies.push(await post(n));
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpuMs = ((treeCpuSeconds(api.pid!) - cpu0) * 1000) / requests;
  api.kill('SIGTERM');
  await new Promise((r) => api.once('exit', r));
  const s = summarize(latencies);
  return { rps: Math.round(requests / seconds), p50: s.p50Ms, p99: s.p99Ms, cpuMs: Math.round(cpuMs * 1000) / 1000 };
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
