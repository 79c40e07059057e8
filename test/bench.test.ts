import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchResults } from '../tools/bench/report/results';
import { repoRoot } from '../tools/stack/servers';

function runBench(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; output: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tools/bench/run.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, STACK_DIR: path.join(repoRoot, '.stack') },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return { child, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, output }))) };
}

/** The short version of `npm run bench`: every system it compares, a few orders each; the figures themselves are not asserted. */
describe('npm run bench (short)', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'bench-test-'));
  let running: ChildProcess | undefined;
  afterAll(async () => {
    if (running && running.exitCode === null) {
      const exited = new Promise((resolve) => running!.once('exit', resolve));
      running.kill('SIGINT');
      await exited;
    }
    rmSync(out, { recursive: true, force: true });
  });

  it('a bad flag is a clear error with exit code 2', async () => {
    const { code, output } = await runBench(['--orders', 'lots']).done;
    expect(code).toBe(2);
    expect(output).toContain('--orders must be a whole number');
    expect(output).toContain('usage: npm run bench');
  });

  it(
    'measures the service (both intake layouts), both no-op shapes, the classic consumer and PostgreSQL side by side and writes JSON, PNG and table',
    { timeout: 600_000 },
    async () => {
      const skip = 'baseline,rates,intake,history,workers,faults,memory';
      const run = runBench([
        '--quick',
        '--orders',
        '12',
        '--classic-orders',
        '30',
        '--duplicates',
        '20',
        '--ceiling-seconds',
        '1',
        '--skip',
        skip,
        '--out',
        out,
      ]);
      running = run.child;
      const { code, output } = await run.done;
      expect(code, output.slice(-4_000)).toBe(0);

      const files = readdirSync(out);
      expect(files.filter((f) => f.endsWith('-quick.png'))).toHaveLength(1);
      const results = JSON.parse(
        readFileSync(
          path.join(
            out,
            files.find((f) => f.endsWith('-quick.json'))!,
          ),
          'utf8',
        ),
      ) as BenchResults;
      expect(results.machine.cpus).toBeGreaterThan(0);
      expect(new Set(results.scenarios.map((s) => s.system))).toEqual(new Set(['service', 'noop-local', 'noop', 'classic', 'postgres']));
      for (const s of results.scenarios) {
        expect(s.failed, s.name).toBe(0);
        expect(s.ordersPerSec, s.name).toBeGreaterThan(0);
        expect(s.p99Ms, s.name).toBeGreaterThanOrEqual(s.p50Ms);
      }
      expect(results.ratios.noopCeiling).toBeGreaterThan(0);
      expect(results.ratios.classic).toBeGreaterThan(0);
      expect(results.cpuPerOrderMs?.service?.total).toBeGreaterThan(0);
      expect(output).toMatch(/\| service max \(closed loop/);
      expect(output).toMatch(/duplicate POST/);
      // The eager section: both layouts, and POSTs answered CONFIRMED in the request on each.
      expect(results.scenarios.map((s) => s.short)).toEqual(expect.arrayContaining(['separate max', 'eager max', 'separate 50% wait', 'eager 50% wait']));
      expect(results.ratios.layouts?.eagerVsNoop).toBeGreaterThan(0);
    },
  );
});
