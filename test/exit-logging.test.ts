import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { repoRoot } from '../tools/stack/servers';
import { freePort } from './global-setup';

/**
 * Loaded before the process under test: a machine so loaded that libuv's thread pool (one thread here) runs
 * nothing from the moment the process writes a line containing SLOW_POOL_FROM until it has written its last
 * lines and is ending; then the pool runs what it was given before the process goes. An asynchronous write of
 * a log line is such a job: it lands wherever the pool gets to it, after the exit line here.
 */
const slowThreadPool = `
import fs from 'node:fs';
const blocker = fs.openSync(process.env.BLOCKER_FIFO, 'r+');
const drained = fs.openSync(process.env.DRAINED_FIFO, 'r+');
let blocked = false;
const write = fs.write;
fs.write = function (fd, data, ...rest) {
  if (fd === 1 && !blocked && String(data).includes(process.env.SLOW_POOL_FROM)) {
    blocked = true;
    fs.read(blocker, Buffer.alloc(1), 0, 1, null, () => {});
  }
  return write.call(this, fd, data, ...rest);
};
const reallyExit = process.reallyExit;
process.reallyExit = function (code) {
  if (blocked) {
    // Queued behind everything the pool holds: once it is done, so is the rest.
    fs.write(drained, 'x', () => {});
    fs.writeSync(blocker, 'x');
    fs.readSync(drained, Buffer.alloc(1));
  }
  return reallyExit.call(this, code);
};
`;

type Line = { level: number; msg: string; reason?: string; code?: number; err?: { stack?: string } };

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The process at `entry` on a slow thread pool from its first line containing `slowFrom`; `signal` is sent once it logged `signalAfter`. */
async function runOnSlowThreadPool(
  entry: string,
  { env, slowFrom, signalAfter }: { env: NodeJS.ProcessEnv; slowFrom: string; signalAfter?: string },
): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exit-logging-'));
  const [preload, blocker, drained] = ['slow-thread-pool.mjs', 'blocker', 'drained'].map((name) => path.join(dir, name));
  writeFileSync(preload!, slowThreadPool);
  execFileSync('mkfifo', [blocker!, drained!]);
  const child = spawn(process.execPath, ['--import', pathToFileURL(preload!).href, '--import', 'tsx', path.join(repoRoot, entry)], {
    cwd: repoRoot,
    env: { ...process.env, ...env, UV_THREADPOOL_SIZE: '1', BLOCKER_FIFO: blocker, DRAINED_FIFO: drained, SLOW_POOL_FROM: slowFrom, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = { status: null, stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (run.stderr += d.toString()));
  const closed = once(child, 'close');
  try {
    if (signalAfter) {
      await vi.waitFor(() => expect(run.stdout).toContain(signalAfter), { timeout: 40_000, interval: 100 });
      child.kill('SIGTERM');
    }
    [run.status] = (await closed) as [number | null];
    return run;
  } finally {
    child.kill('SIGKILL');
  }
}

function linesOf(stdout: string): Line[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Line);
}

describe('a process that exits says why in its log, last, however loaded the machine', () => {
  it.each([
    ['a worker', 'worker/main.ts', {}],
    // An order worker inside the consumer, whose start fails the same way.
    ['a consumer', 'consumer/main.ts', { INTAKE_LAYOUT: 'worker', KAFKA_BROKERS: '127.0.0.1:1' }],
    // And one inside the API: it fails before the app (and its logger) exists.
    ['an API', 'api/server.ts', { INTAKE_LAYOUT: 'worker', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/orders' }],
  ])('%s that cannot reach Temporal logs the error with its stack, then its exit code and reason', { timeout: 60_000 }, async (_name, entry, env) => {
    const closed = await freePort();
    const run = await runOnSlowThreadPool(entry, {
      env: { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${closed}`, WORKER_METRICS_PORT: '0', WORKFLOW_BUNDLE: '' },
      slowFrom: 'Workflow bundle created',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`error: cannot reach Temporal at 127.0.0.1:${closed}`);
    const lines = linesOf(run.stdout);
    const fatal = lines.findIndex((line) => line.msg.startsWith('exiting: cannot reach Temporal'));
    expect(lines[fatal]?.level).toBe(60);
    expect(lines[fatal]?.err?.stack).toMatch(/cannot reach Temporal[\s\S]*\n\s+at /);
    // Every line logged before the error is there, before it; after it comes only the exit line.
    expect(lines.slice(0, fatal).map((line) => line.msg)).toContain('Workflow bundle created');
    expect(lines.slice(fatal + 1)).toEqual([expect.objectContaining({ level: 60, code: 1, msg: 'exited with code 1' })]);
    expect(lines.at(-1)?.reason).toMatch(/^cannot reach Temporal at 127\.0\.0\.1:\d+/);
  });

  it('an API stopped by SIGTERM logs its drain, then its exit code and reason', { timeout: 60_000 }, async () => {
    const closed = await freePort();
    const run = await runOnSlowThreadPool('api/server.ts', {
      env: { API_PORT: String(await freePort()), DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/orders`, TEMPORAL_ADDRESS: `127.0.0.1:${closed}` },
      slowFrom: 'received SIGTERM',
      signalAfter: 'Server listening at',
    });
    expect(run.status).toBe(0);
    const lines = linesOf(run.stdout).map(({ msg, code, reason }) => ({ msg, code, reason }));
    expect(lines.slice(-3)).toEqual([
      { msg: 'received SIGTERM: shutting down' },
      { msg: 'draining and shutting down' },
      { msg: 'exited with code 0', code: 0, reason: 'received SIGTERM' },
    ]);
  });
});
