/**
 * npm run bench: the service and its three references side by side, in one run, on one stack.
 *   node --import tsx tools/bench/run.ts [--quick] [--help]
 * Prints a table; writes tools/bench/results/<date>.json and <date>.png (<date>-quick.* with --quick).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { ChaosStack } from '../chaos/stack';
import path from 'node:path';
import { killAllChildrenSync, repoDir, stopAllChildren, stopStartingStack } from './lib/children';
import type { BenchContext } from './lib/context';
import { runCommand } from '../../lib/cli';
import { parseFlags, usage, type Flags, type Section } from './lib/flags';
import { loadAverage, machineFacts } from './lib/machine';
import { setUp } from './lib/setup';
import { renderChart } from './report/chart';
import type { BenchResults } from './report/results';
import { formatTable } from './report/table';
import { classicUnderFaults } from './scenarios/classic-faults';
import { duplicatePosts } from './scenarios/duplicates';
import { eagerLayout } from './scenarios/eager';
import { historyPerSaga } from './scenarios/history';
import { kafkaIntake } from './scenarios/kafka-intake';
import { waitingMemory } from './scenarios/memory';
import { baselineMax } from './scenarios/baseline';
import { maximumRates, openLoopSteps, warmUp } from './scenarios/rates';
import { workerScaling } from './scenarios/workers';

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

function emptyResults(flags: Flags, argv: string[]): BenchResults {
  return {
    command: ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '),
    startedAt: new Date().toISOString(),
    quick: flags.quick,
    sizes: {
      orders: flags.orders,
      classicOrders: flags.classicOrders,
      concurrency: flags.concurrency,
      stepSeconds: flags.stepSeconds,
      duplicates: flags.duplicates,
      intake: flags.intake,
      ceilingSeconds: flags.ceilingSeconds,
      ceilingConnections: flags.ceilingConnections,
      faultMessages: flags.faultMessages,
      waiting: flags.waiting,
      workers: flags.workers.join(','),
      accounts: flags.accounts,
    },
    machine: machineFacts(),
    stackStartSeconds: Number.NaN,
    scenarios: [],
    ratios: { noopCeiling: Number.NaN, noopBeforeS9: Number.NaN, baseline: Number.NaN, classic: Number.NaN, pgCeiling: Number.NaN, latency: [], workers: {} },
    notes: [],
  };
}

/** Runs one section; a failure is recorded and the run goes on with the next. */
async function section(ctx: BenchContext, name: Section, work: () => Promise<void>, failures: string[]): Promise<void> {
  if (ctx.aborted() || ctx.flags.skip.has(name)) return;
  try {
    await work();
  } catch (err) {
    const message = `${name} failed: ${err instanceof Error ? err.message : String(err)}`;
    log(message);
    failures.push(message);
    ctx.results.notes.push(message);
  }
}

function write(results: BenchResults, outDir: string): { json: string; png: string } {
  mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, `${results.startedAt.slice(0, 10)}${results.quick ? '-quick' : ''}`);
  writeFileSync(`${base}.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${base}.png`, renderChart(results));
  return { json: `${base}.json`, png: `${base}.png` };
}

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, repoDir);
  if (flags.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const results = emptyResults(flags, argv);
  const started = performance.now();
  // Until startOwnStack hands back its stop(), stopping means interrupting the stack that is starting.
  let stopStack: () => Promise<void> = () => stopStartingStack();
  let discardStack: () => void = () => undefined;
  const removeStackDir = () => discardStack();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`interrupted (${signal}): stopping everything the bench started ...`);
    void Promise.allSettled([stopAllChildren(), stopStack()]).then(() => {
      removeStackDir();
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAllChildrenSync);

  const failures: string[] = [];
  const onStack = (stack: Pick<ChaosStack, 'stop' | 'discard'>) => {
    stopStack = () => stack.stop();
    discardStack = () => stack.discard();
  };
  const setup = await setUp(flags, results, log, () => interrupted, onStack).catch(async (err: unknown) => {
    await Promise.allSettled([stopAllChildren(), stopStack()]);
    removeStackDir();
    throw err;
  });
  const { ctx } = setup;
  try {
    let max: Awaited<ReturnType<typeof maximumRates>> | undefined;
    await section(
      ctx,
      'maximum',
      async () => {
        await warmUp(ctx);
        max = await maximumRates(ctx);
      },
      failures,
    );
    if (max) {
      const m = max;
      await section(ctx, 'baseline', () => baselineMax(ctx), failures);
      await section(ctx, 'rates', () => openLoopSteps(ctx, m.serviceMax), failures);
      await section(ctx, 'duplicates', () => duplicatePosts(ctx, m.serviceFirst, flags.orders), failures);
      await section(ctx, 'history', () => historyPerSaga(ctx, m.serviceFirst, m.noopFirst), failures);
    }
    await section(ctx, 'intake', () => kafkaIntake(ctx), failures);
    await section(ctx, 'eager', () => eagerLayout(ctx), failures);
    await section(ctx, 'workers', () => workerScaling(ctx), failures);
    await section(ctx, 'faults', () => classicUnderFaults(ctx), failures);
    await section(ctx, 'memory', () => waitingMemory(ctx), failures);
  } finally {
    if (!interrupted) {
      log('stopping the stack ...');
      await setup.close();
      await stopAllChildren();
      await stopStack();
      // The stack's temporary STACK_DIR (servers' data and logs): kept only when a section failed, for its logs.
      if (failures.length) log(`the stack's logs are kept in ${ctx.stack.logDir}`);
      else removeStackDir();
    }
  }
  if (interrupted) return 130;
  results.machine.loadAverageEnd = loadAverage();
  results.finishedAt = new Date().toISOString();
  results.durationSeconds = Math.round((performance.now() - started) / 1000);
  const files = write(results, flags.outDir);
  process.stdout.write(`\n${formatTable(results)}\n\nwritten: ${path.relative(process.cwd(), files.json)}, ${path.relative(process.cwd(), files.png)}\n`);
  return failures.length ? 1 : 0;
}

runCommand(main, usage);
