import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { runCommand, UsageError } from '../../lib/cli';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { reconcile } from '../../cli/reconcile';
import { createPool } from '../../db/pool';
import { workflowIdFor } from '../../domain/order';
import { createKafka } from '../../messaging/topics';
import { repoRoot } from '../stack/servers';
import { buildWorkflowBundle } from '../../worker/build-bundle';
import { FaultInjector, faultKinds, isNetworkFault, type FaultKind } from './faults';
import { Load, seedPlan } from './load';
import { checkBacksUsed, countInjectedFaults, formatReport, orderStates, refundOutcomes, workflowRuns, type ChaosReport, type RefundTally } from './report';
import { linkFaults, startOwnStack, useRunningStack, type ChaosStack } from './stack';

const usage = `usage: npm run chaos -- [options]
  --orders N             unique orders to place (default 5000), 30% sent twice, REST and Kafka mixed
  --concurrency N        REST requests in flight (default 16)
  --stall-seconds N      how long SIGSTOP holds Temporal and a worker (default 20)
  --kill-worker-every N  seconds between kill -9 of a worker (default 15)
  --fault-rate R         share of committing activity attempts whose reply is lost after the commit (default 0.02)
  --faults LIST          fault kinds to inject, comma-separated (default all): ${faultKinds.join(', ')}
  --network-hold-seconds N  how long a network fault stays on its two links (default 6)
  --quiet-timeout N      seconds to wait for every accepted order to end (default 600)
  --layout L             separate (default: workers in their own processes) or worker (INTAKE_LAYOUT=worker: the API and consumer run a worker too and start sagas eagerly on it)
  --use-running          use the stack npm start runs (STACK_DIR, API_PORT, DATABASE_URL, ...) instead of starting one
Writes .stack/chaos/report.json; exits 1 on any loss, double, strand, violation or unexpected answer, 2 on bad flags.`;

function parseFlags(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      orders: { type: 'string', default: '5000' },
      concurrency: { type: 'string', default: '16' },
      'stall-seconds': { type: 'string', default: '20' },
      'kill-worker-every': { type: 'string', default: '15' },
      'fault-rate': { type: 'string', default: '0.02' },
      faults: { type: 'string', default: faultKinds.join(',') },
      'network-hold-seconds': { type: 'string', default: '6' },
      'quiet-timeout': { type: 'string', default: '600' },
      'use-running': { type: 'boolean', default: false },
      layout: { type: 'string', default: 'separate' },
      help: { type: 'boolean', default: false },
    },
  });
  const number = (name: keyof typeof values, min: number, max: number, integer = true) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got ${String(values[name])}`);
    }
    return n;
  };
  return {
    help: values.help,
    orders: number('orders', 1, 1_000_000),
    concurrency: number('concurrency', 1, 512),
    stallMs: number('stall-seconds', 1, 600) * 1_000,
    killWorkerEveryMs: number('kill-worker-every', 1, 3_600) * 1_000,
    faultRate: number('fault-rate', 0, 1, false),
    kinds: faultList(values.faults),
    networkHoldMs: number('network-hold-seconds', 1, 600) * 1_000,
    quietTimeoutMs: number('quiet-timeout', 10, 86_400) * 1_000,
    useRunning: values['use-running'],
    layout: layoutOf(values.layout),
  };
}

function layoutOf(value: string): 'separate' | 'worker' {
  if (value !== 'separate' && value !== 'worker') throw new UsageError(`--layout must be separate or worker, got ${JSON.stringify(value)}`);
  return value;
}

function faultList(list: string): FaultKind[] {
  const kinds = list
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const unknown = kinds.filter((k) => !(faultKinds as string[]).includes(k));
  if (unknown.length) throw new UsageError(`--faults: unknown kind ${JSON.stringify(unknown[0])}; kinds: ${faultKinds.join(', ')}`);
  return [...new Set(kinds)] as FaultKind[];
}

const bar = (done: number, total: number, width = 24) => `[${'#'.repeat(Math.round((done / total) * width)).padEnd(width, '.')}]`;

function progress(): (line: string) => void {
  return (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
}

async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  if (flags.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const log = progress();
  const run = `chaos-${Date.now().toString(36)}`;
  const startedAt = new Date().toISOString();
  log(flags.useRunning ? 'using the running stack' : 'starting a stack of its own on free ports ...');
  // Workers as production runs them, from a prebuilt bundle: a killed worker is back in about 2 s, not 4+.
  const bundle = flags.useRunning
    ? undefined
    : await buildWorkflowBundle(path.join(mkdtempSync(path.join(os.tmpdir(), 'chaos-bundle-')), 'workflow-bundle.js'));
  const stack: ChaosStack = flags.useRunning
    ? useRunningStack()
    : await startOwnStack({
        SAGA_FAULT_AFTER_COMMIT_RATE: String(flags.faultRate),
        WORKFLOW_BUNDLE: bundle!,
        STACK_FAULT_PROXY: flags.kinds.some(isNetworkFault) ? '1' : '0',
        INTAKE_LAYOUT: flags.layout,
      });
  const links = linkFaults(stack.stackDir);
  if (!links && flags.kinds.some(isNetworkFault)) {
    await stack.stop();
    throw new UsageError('network faults need a stack started with STACK_FAULT_PROXY=1; or leave them out of --faults');
  }
  let stopping = false;
  let passed = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    log('interrupted: stopping the chaos stack');
    void stack.stop().then(() => {
      stack.discard();
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const pool = createPool({ connectionString: stack.databaseUrl, max: 4, queryTimeoutMs: 60_000 });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection });
  const producer = createKafka({ brokers: stack.brokers, clientId: run }).producer({ idempotent: true, maxInFlightRequests: 1 });
  const isServing = async (pid: number) => {
    const { pollers } = await client.withDeadline(Date.now() + 2_000, () =>
      connection.workflowService.describeTaskQueue({
        namespace: 'default',
        taskQueue: { name: 'orders' },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
    return (pollers ?? []).some((poller) => poller.identity?.startsWith(`${pid}@`));
  };
  const faults = new FaultInjector(stack, {
    stallMs: flags.stallMs,
    gapMs: 8_000,
    killWorkerEveryMs: flags.killWorkerEveryMs,
    kinds: flags.kinds,
    networkHoldMs: flags.networkHoldMs,
    links,
    isServing,
    workerProcesses: flags.layout === 'worker' && !flags.useRunning ? ['worker', 'api', 'consumer'] : ['worker'],
    log,
  });
  try {
    await producer.connect();
    const plan = seedPlan(run);
    await seed(stack.apiUrl, plan);
    const load = new Load({ apiUrl: stack.apiUrl, producer, run, orders: flags.orders, concurrency: flags.concurrency, giveUpMs: 300_000, log });
    const ticker = setInterval(
      () => log(`${bar(load.accepted.size, flags.orders)} accepted ${load.accepted.size}/${flags.orders}, sent ${load.sent}, faults ${faults.faults.length}`),
      5_000,
    );
    const killer = faults.killWorkersPeriodically();
    const schedule = faults.runSchedule();
    await load.run(plan);
    await schedule;
    faults.stop();
    await killer;
    log('load and faults done; waiting for every accepted order to end ...');
    const ids = [...load.accepted];
    const deadline = Date.now() + flags.quietTimeoutMs;
    for (;;) {
      const states = await orderStates(pool, ids).catch(() => new Map<string, { status: string }>());
      const open = ids.filter((id) => states.get(id)?.status !== 'CONFIRMED' && states.get(id)?.status !== 'CANCELLED').length;
      if (open === 0 || Date.now() > deadline) break;
      log(`${bar(ids.length - open, ids.length)} ${ids.length - open}/${ids.length} orders ended; ${open} still open`);
      await sleep(5_000);
    }
    log('waiting for every refund to end ...');
    for (;;) {
      const { statuses } = await refundOutcomes(pool, run).catch(() => ({ statuses: new Map<string, string>() }));
      const open = [...load.refundsAccepted].filter((id) => statuses.get(id) !== 'REFUNDED' && statuses.get(id) !== 'REJECTED').length;
      const pending = [...statuses.values()].filter((s) => s === 'PENDING').length;
      if ((open === 0 && pending === 0) || Date.now() > deadline) break;
      log(`${open + pending} refunds still open`);
      await sleep(5_000);
    }
    clearInterval(ticker);

    const states = await orderStates(pool, ids);
    const runs = await workflowRuns(client, run);
    const reconciled = await reconcile({ pool, client });
    const lost = ids.filter((id) => !states.has(id));
    const stranded = ids.filter((id) => states.get(id)?.status === 'PENDING');
    const doubled = [...runs].filter(([, r]) => r.length > 1).map(([id]) => id);
    const refundRuns = await workflowRuns(client, run, 'refund');
    const { statuses: refundStatuses, deadLettered, reasons: refundReasons } = await refundOutcomes(pool, run);
    const refunds: RefundTally = {
      sent: load.refundsSent.size,
      accepted: load.refundsAccepted.size,
      refused: load.refundsRefused.size,
      produced: load.refundsProduced.size,
      refunded: [...refundStatuses.values()].filter((s) => s === 'REFUNDED').length,
      rejected: [...refundStatuses.values()].filter((s) => s === 'REJECTED').length,
      deadLettered: deadLettered.size,
      lost: [...load.refundsAccepted, ...load.refundsProduced].filter((id) => !refundStatuses.has(id) && !deadLettered.has(id)).length,
      stranded: [...refundStatuses.values()].filter((s) => s === 'PENDING').length,
      doubled: [...refundRuns.values()].filter((r) => r.length > 1).length,
    };
    const orders: Record<string, number> = {};
    for (const s of states.values()) orders[s.status] = (orders[s.status] ?? 0) + 1;
    const report: ChaosReport = {
      run,
      layout: flags.useRunning ? (process.env.INTAKE_LAYOUT ?? 'separate') : flags.layout,
      startedAt,
      finishedAt: new Date().toISOString(),
      sent: load.sent,
      uniqueIds: flags.orders,
      accepted: ids.length,
      gaveUp: load.gaveUp,
      workflows: runs.size,
      orders,
      needsReview: [...states.values()].filter((s) => s.needsReview).length,
      lost: lost.length,
      doubled: doubled.length + (reconciled.checks.find((c) => c.name === 'ledger-keys')?.violations.length ?? 0),
      stranded: stranded.length,
      violations: reconciled.checks.reduce((sum, c) => sum + c.violations.length, 0),
      unexpectedAnswers: load.unexpected.length,
      checkBacks: await checkBacksUsed(client, ids.filter((id) => states.get(id)?.status !== 'PENDING' && states.has(id)).map(workflowIdFor)),
      injectedAfterCommit: countInjectedFaults(stack.logDir),
      supervisorRestarts: stack.supervisorLines.filter((l) => l.includes('restarting in')).length,
      refunds,
      faults: faults.faults,
      details: { lost, doubled, stranded, unexpected: load.unexpected.slice(0, 20), refundsDeadLettered: refundReasons.slice(0, 20), reconcile: reconciled },
    };
    const file = path.join(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'), 'chaos', 'report.json');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(report, null, 2));
    const missingKinds = flags.kinds.filter((k) => !report.faults.some((f) => f.kind === k));
    const refundFaults = refunds.lost + refunds.stranded + refunds.doubled;
    const clean =
      report.lost + report.doubled + report.stranded + report.violations + report.unexpectedAnswers + refundFaults === 0 &&
      report.workflows === report.accepted;
    process.stdout.write(`\nchaos run ${run}: ${clean ? 'nothing lost, nothing applied twice' : 'FAILED'}\n${formatReport(report)}\n  report: ${file}\n`);
    if (missingKinds.length) process.stdout.write(`  faults not injected: ${missingKinds.join(', ')}\n`);
    passed = clean;
    return clean ? 0 : 1;
  } finally {
    faults.stop();
    await producer.disconnect().catch(() => undefined);
    await connection.close();
    await pool.end();
    if (!stopping) await stack.stop();
    if (bundle) rmSync(path.dirname(bundle), { recursive: true, force: true });
    // Kept when the run failed (or could not finish): its logs say why.
    if (passed) stack.discard();
    else if (!stopping) log(`the stack's data and logs are kept in ${path.dirname(stack.logDir)}`);
  }
}

async function seed(apiUrl: string, plan: ReturnType<typeof seedPlan>): Promise<void> {
  const send = async (method: string, url: string, body: unknown) => {
    const response = await fetch(`${apiUrl}${url}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`seeding ${url}: HTTP ${response.status} ${await response.text()}`);
  };
  for (const [id, cents] of plan.accountIds) await send('POST', '/accounts', { accountId: id, openingBalanceCents: cents });
  for (const [sku, available] of plan.skuIds) await send('PUT', `/inventory/${sku}`, { available });
}

runCommand(main, usage);
