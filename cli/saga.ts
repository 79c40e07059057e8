import { parseArgs } from 'node:util';
import { runCommand, UsageError } from '../lib/cli';
import { loadConfigOrExit } from '../config';
import { createPool } from '../db/pool';
import { createTemporalClient } from '../lib/temporal-client';
import { deployUsage, runDeploy } from './deploy';
import { formatReport, reconcile } from './reconcile';

const usage = `usage: npm run saga -- <command> [options]

commands:
  reconcile   check every invariant of RELIABILITY.md against PostgreSQL (read-only), cross-checked with Temporal
              --json            machine-readable report
              --no-temporal     skip the Temporal cross-checks (stranded and lost orders)
              --limit N         violating rows listed per check (default 100)
${deployUsage}

exit codes: 0 every invariant holds · 1 violations found · 2 usage error or a server unreachable`;

async function runReconcile(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false }, 'no-temporal': { type: 'boolean', default: false }, limit: { type: 'string', default: '100' } },
    strict: true,
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${values.limit}`);
  const config = loadConfigOrExit();
  const pool = createPool({ connectionString: config.DATABASE_URL, max: 1, queryTimeoutMs: 60_000 });
  const temporal = values['no-temporal'] ? undefined : createTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  try {
    const report = await reconcile({ pool, client: temporal?.client, limit });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return report.ok ? 0 : 1;
  } finally {
    await pool.end();
    await temporal?.connection.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'reconcile') return runReconcile(rest);
  if (command === 'deploy') return runDeploy(rest);
  if (!command || command === 'help' || command === '--help') {
    process.stdout.write(`${usage}\n`);
    return command ? 0 : 2;
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)}`);
}

// 1 means violations found: an unreachable server is not one.
runCommand(main, usage, 2);
