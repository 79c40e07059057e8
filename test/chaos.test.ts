import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { faultKinds } from '../tools/chaos/faults';
import type { ChaosReport } from '../tools/chaos/report';
import { faultLinks } from '../tools/stack/fault-links';
import { repoRoot } from '../tools/stack/servers';

/** The short version of `npm run chaos`: every fault kind (process and network), 500 orders and their refunds through REST and Kafka, nothing lost or doubled. */
describe('npm run chaos (short)', () => {
  let child: ChildProcess | undefined;
  // On a timeout too: Ctrl-C makes the run stop its whole stack.
  afterAll(async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  });

  // On the eager layout: the API and the consumer run workers too, so their kills take sagas in flight with them.
  it(
    '500 orders under every fault, eager layout: nothing lost, nothing applied twice, nothing stranded, every invariant holds',
    { timeout: 1_200_000 },
    async () => {
      const args = ['--orders', '500', '--stall-seconds', '8', '--kill-worker-every', '12', '--quiet-timeout', '420', '--layout', 'worker'];
      child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tools/chaos/run.ts'), ...args], {
        cwd: repoRoot,
        env: { ...process.env, STACK_DIR: path.join(repoRoot, '.stack') },
      });
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child!.on('exit', resolve));
      expect(code, output.slice(-4_000)).toBe(0);

      const report = JSON.parse(readFileSync(path.join(repoRoot, '.stack', 'chaos', 'report.json'), 'utf8')) as ChaosReport;
      expect(report).toMatchObject({
        layout: 'worker',
        uniqueIds: 500,
        accepted: 500,
        workflows: 500,
        gaveUp: 0,
        lost: 0,
        doubled: 0,
        stranded: 0,
        violations: 0,
        unexpectedAnswers: 0,
      });
      expect(report.sent).toBeGreaterThan(500); // duplicates and retries
      expect((report.orders.CONFIRMED ?? 0) + (report.orders.CANCELLED ?? 0)).toBe(500);
      expect(report.orders.CANCELLED, 'compensations ran').toBeGreaterThan(0);
      expect(new Set(report.faults.map((f) => f.kind))).toEqual(new Set(faultKinds));
      // Network faults through Toxiproxy on every link between two processes, each logged with its time.
      expect(new Set(report.faults.filter((f) => f.link).map((f) => f.link))).toEqual(new Set(faultLinks));
      expect(report.faults.filter((f) => f.link && Number.isNaN(Date.parse(f.at)))).toEqual([]);
      expect(report.injectedAfterCommit, 'activity replies lost after their commit').toBeGreaterThan(0);
      expect(report.supervisorRestarts).toBeGreaterThan(0);
      // Refunds of confirmed orders, by REST and Kafka, some sent twice, some asking together for more than was paid.
      expect(report.refunds).toMatchObject({ lost: 0, stranded: 0, doubled: 0 });
      expect(report.refunds.refunded, 'refunds went through').toBeGreaterThan(0);
      expect(report.refunds.refused + report.refunds.rejected + report.refunds.deadLettered, 'the cap refused some').toBeGreaterThan(0);
    },
  );
});
