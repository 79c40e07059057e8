import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrder } from '../intake/start-order';
import { repoRoot } from '../tools/stack/servers';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { seed, uniqueIds } from './helpers/seed';

describe('a production worker from the prebuilt workflow bundle', () => {
  let stack: RealStack;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'workflow-bundle-'));
  const bundle = path.join(dir, 'workflow-bundle.js');

  beforeAll(async () => {
    stack = await startRealStack();
  });
  afterAll(async () => stack?.stop());

  const workerEnv = (queue: string, bundlePath: string) => ({
    ...process.env,
    TEMPORAL_ADDRESS: stack.temporal.address,
    DATABASE_URL: stack.db.url,
    TEMPORAL_TASK_QUEUE: queue,
    WORKFLOW_BUNDLE: bundlePath,
    LOG_LEVEL: 'info',
  });

  it('npm run build:workflows writes it; a worker process started with WORKFLOW_BUNDLE runs sagas from it', { timeout: 120_000 }, async () => {
    const build = spawnSync(process.execPath, ['--import', 'tsx', 'worker/build-bundle.ts', bundle], { cwd: repoRoot, encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    expect(build.stdout).toContain(`workflow bundle written: ${bundle}`);

    const queue = `bundle-${uniqueIds('q').tag}`;
    const worker = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd: repoRoot, env: workerEnv(queue, bundle) });
    let output = '';
    worker.stdout.on('data', (d: Buffer) => (output += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', resolve));
    try {
      const ids = uniqueIds('bundled');
      await seed(stack.db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
      const order = { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] };
      await startOrder({ client: stack.client, pool: stack.db.pool, taskQueue: queue }, order, 'rest');
      expect(await stack.result(ids.message)).toMatchObject({ state: 'CONFIRMED' });
      expect(output).toContain(`"workflowBundle":"${bundle}"`);
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('a worker pointed at a bundle that is not there exits with an error instead of polling', { timeout: 60_000 }, () => {
    const worker = spawnSync(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
      cwd: repoRoot,
      env: workerEnv('bundle-missing', path.join(dir, 'missing.js')),
      encoding: 'utf8',
      timeout: 50_000,
    });
    expect(worker.status).toBe(1);
    expect(worker.stderr).toMatch(/missing\.js/);
  });
});
