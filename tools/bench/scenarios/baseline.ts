/**
 * The service as it was at `--baseline REF`, under the same load in the same run: that commit checked out
 * in a git worktree (sharing node_modules), its own stack on free ports, the same closed loop. The two
 * take turns, `--baseline-rounds` times each, so a slow minute of the shared machine falls on both;
 * the ratio is the median of the rounds' ratios. The stack not measured idles meanwhile.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startOwnStack } from '../../chaos/stack';
import { createPool } from '../../../db/pool';
import { onInterrupt, repoDir } from '../lib/children';
import type { BenchContext } from '../lib/context';
import { DonePoller, orderEnded } from '../lib/done-poller';
import { closedLoop, type RunResult } from '../lib/drive';
import { seedService } from '../lib/setup';
import { ratio } from '../lib/stats';
import { serviceTarget } from '../lib/targets';
import { scenarioFrom } from '../report/results';

function git(args: string[]): string {
  const run = spawnSync('git', args, { cwd: repoDir, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`git ${args.join(' ')}: ${run.stderr.trim()}`);
  return run.stdout.trim();
}

export async function baselineMax(ctx: BenchContext): Promise<void> {
  const { flags, log, results } = ctx;
  const commit = git(['rev-parse', '--short', `${flags.baseline}^{commit}`]);
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'saga-baseline-')), 'checkout');
  const removeWorktree = () => {
    spawnSync('git', ['worktree', 'remove', '--force', dir], { cwd: repoDir });
    rmSync(path.dirname(dir), { recursive: true, force: true });
  };
  git(['worktree', 'add', '--detach', dir, commit]);
  const forgetWorktree = onInterrupt(() => Promise.resolve(removeWorktree()));
  try {
    symlinkSync(path.join(repoDir, 'node_modules'), path.join(dir, 'node_modules'));
    log(`baseline: the service at ${flags.baseline} (${commit}) on a stack of its own ...`);
    const stack = await startOwnStack({ LOG_LEVEL: 'warn' }, dir);
    const forgetStack = onInterrupt(() => stack.stop());
    const pool = createPool({ connectionString: stack.databaseUrl, max: 4, queryTimeoutMs: 30_000 });
    const poller = new DonePoller(pool, orderEnded);
    try {
      await seedService(stack.apiUrl, ctx.workload);
      const target = serviceTarget(stack.apiUrl, ctx.client, ctx.workload, poller, 'baseline');
      const warm = flags.quick ? 10 : 30;
      await closedLoop(target, ctx.indexes.baseline.take(warm), warm, flags.concurrency, 300_000);
      const timeout = Math.max(300_000, flags.orders * 1_000);
      const rounds: { service: RunResult; baseline: RunResult }[] = [];
      for (let round = 1; round <= flags.baselineRounds && !ctx.aborted(); round++) {
        log(`  round ${round}/${flags.baselineRounds}: ${flags.orders} orders each, closed loop, ${flags.concurrency} producers ...`);
        const service = await closedLoop(ctx.targets.service, ctx.indexes.service.take(flags.orders), flags.orders, flags.concurrency, timeout);
        const baseline = await closedLoop(target, ctx.indexes.baseline.take(flags.orders), flags.orders, flags.concurrency, timeout);
        log(`    service ${service.ordersPerSec} orders/s, baseline ${baseline.ordersPerSec} orders/s`);
        rounds.push({ service, baseline });
      }
      const label = `closed loop, ${flags.concurrency} producers, ${rounds.length} alternating rounds`;
      const best = (key: 'service' | 'baseline') => rounds.map((r) => r[key]).sort((a, b) => a.ordersPerSec - b.ordersPerSec)[Math.floor(rounds.length / 2)]!;
      results.scenarios.push(
        scenarioFrom(`service, median round beside the baseline (${label})`, 'service (rounds)', 'service', best('service')),
        scenarioFrom(`baseline ${commit}, median round (${label})`, 'baseline max', 'baseline', best('baseline')),
      );
      const ratios = rounds.map((r) => ratio(r.service.ordersPerSec, r.baseline.ordersPerSec)).sort((a, b) => a - b);
      results.ratios.baseline = ratios[Math.floor(ratios.length / 2)]!;
      results.ratios.baselineRounds = ratios;
      results.ratios.baselineRef = commit;
    } finally {
      poller.stop();
      await pool.end().catch(() => undefined);
      await stack.stop();
      stack.discard();
      forgetStack();
    }
  } finally {
    removeWorktree();
    forgetWorktree();
  }
}
