import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { reconcile } from '../../cli/reconcile';
import { loadConfigOrExit } from '../../config';
import { createPool } from '../../db/pool';
import { runCommand, UsageError } from '../../lib/cli';
import { readToolchain, repoRoot } from '../stack/servers';
import { runFuzz, type FuzzCall } from './fuzz';

const usage = `usage: npm run fuzz -- [options]
  Schemathesis, every check, against the API npm start runs (its /docs/json), then reconcile on its database.
  --url URL            the API (default http://127.0.0.1:$API_PORT, 3000)
  --seed N             Hypothesis seed (default: random, printed)
  --max-examples N     examples per operation and phase (default 300; the test suite runs 25)
  --workers N          Schemathesis workers (default 1)
API_KEY, if the stack runs with one, is sent as the bearer key. Writes .stack/fuzz/report.json;
exits 1 on any finding, on a run that placed no order or refund, or on a broken invariant; 2 on bad flags.`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: 'string' },
      seed: { type: 'string' },
      'max-examples': { type: 'string', default: '300' },
      workers: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const whole = (name: string, value: string | undefined, min: number, max: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${value}`);
    return n;
  };
  const config = loadConfigOrExit();
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : whole('seed', values.seed, 0, 2 ** 31);
  const stateDir = process.env.STACK_DIR ?? path.join(repoRoot, '.stack');
  const bin = readToolchain(stateDir).SCHEMATHESIS_BIN;
  if (!bin) throw new Error('Schemathesis is not installed; run: npm run toolchain');
  const baseUrl = values.url ?? `http://127.0.0.1:${config.API_PORT}`;
  console.log(`fuzz: ${baseUrl}, seed ${seed}`);
  const result = await runFuzz(
    {
      baseUrl,
      apiKey: config.API_KEY ?? '',
      schemathesisBin: bin,
      seed,
      maxExamples: whole('max-examples', values['max-examples'], 1, 100_000),
      workers: whole('workers', values.workers, 1, 16),
      runId: `fuzz-${seed}-${Date.now().toString(36)}`,
    },
    { onOutput: (chunk) => process.stdout.write(chunk) },
  );
  const invariantsHold = await reconcileWhenSettled(config);
  const report = { seed, baseUrl, exitCode: result.exitCode, accepted: result.accepted, answers: tally(result.calls), invariantsHold };
  mkdirSync(path.join(stateDir, 'fuzz'), { recursive: true });
  writeFileSync(path.join(stateDir, 'fuzz', 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `fuzz: ${result.calls.length} requests; accepted ${result.accepted.orders} orders and ${result.accepted.refunds} refunds; invariants ${invariantsHold ? 'hold' : 'BROKEN'}`,
  );
  const ok = result.exitCode === 0 && result.accepted.orders > 0 && result.accepted.refunds > 0 && invariantsHold;
  return ok ? 0 : 1;
}

/** Answers by operation and status. */
function tally(calls: FuzzCall[]): Record<string, Record<number, number>> {
  const byOperation: Record<string, Record<number, number>> = {};
  for (const { method, path: p, status } of calls) {
    const counts = (byOperation[`${method} ${p}`] ??= {});
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return byOperation;
}

/** Sagas the run started may still be running: a check that fails is asked again a few times before it counts. */
async function reconcileWhenSettled(config: ReturnType<typeof loadConfigOrExit>): Promise<boolean> {
  const pool = createPool({ connectionString: config.DATABASE_URL, queryTimeoutMs: 60_000 });
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  try {
    const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
    for (let attempt = 1; ; attempt++) {
      const report = await reconcile({ pool, client });
      if (report.ok) return true;
      if (attempt === 6) {
        console.log(
          JSON.stringify(
            report.checks.filter((c) => c.violations.length > 0),
            null,
            2,
          ),
        );
        return false;
      }
      await sleep(10_000);
    }
  } finally {
    await connection.close();
    await pool.end();
  }
}

runCommand(main, usage);
