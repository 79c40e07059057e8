/**
 * Worker start time, bundling the workflow code at start against loading the prebuilt bundle: seconds
 * from spawn to the worker's "worker polling" line, the two ways alternating. Needs a Temporal server
 * (TEMPORAL_ADDRESS, default 127.0.0.1:7233, e.g. `npm start`). Usage: npx tsx tools/bench/worker-start.ts [rounds=3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { repoRoot } from '../stack/servers';
import { buildWorkflowBundle } from '../../worker/build-bundle';
import { percentile } from './lib/stats';

function secondsToPolling(env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const worker = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd: repoRoot, env });
  let output = '';
  let seconds: number | undefined;
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (seconds !== undefined || !output.includes('worker polling')) return;
      seconds = (performance.now() - t0) / 1000;
      worker.kill('SIGTERM');
    };
    worker.stdout.on('data', onData);
    worker.stderr.on('data', onData);
    worker.on('exit', (code) => (seconds === undefined ? reject(new Error(`worker exited ${code}: ${output.slice(-500)}`)) : resolve(seconds)));
  });
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const bundle = await buildWorkflowBundle(path.join(mkdtempSync(path.join(os.tmpdir(), 'worker-start-')), 'workflow-bundle.js'));
  // Beside `npm start`, whose worker holds the default metrics port.
  const env = { ...process.env, TEMPORAL_TASK_QUEUE: 'worker-start-bench', LOG_LEVEL: 'info', WORKER_METRICS_PORT: '0' };
  const ways = { 'bundled at start': [] as number[], prebuilt: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    ways['bundled at start'].push(await secondsToPolling({ ...env, WORKFLOW_BUNDLE: '' }));
    ways.prebuilt.push(await secondsToPolling({ ...env, WORKFLOW_BUNDLE: bundle }));
  }
  const median = (xs: number[]) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  for (const [way, xs] of Object.entries(ways)) {
    process.stdout.write(`${way.padEnd(17)} median ${median(xs).toFixed(2)} s  (${xs.map((x) => x.toFixed(2)).join(', ')})\n`);
  }
  process.stdout.write(`prebuilt / bundled at start: ${(median(ways.prebuilt) / median(ways['bundled at start'])).toFixed(2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
