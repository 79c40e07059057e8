import path from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from '../../../lib/cli';

export const sections = ['maximum', 'baseline', 'rates', 'duplicates', 'intake', 'history', 'eager', 'workers', 'faults', 'memory'] as const;
export type Section = (typeof sections)[number];

/** The last commit before the speed work of issue 8 (S9): "today's" service in the target. */
export const defaultBaseline = '2a9f80a325d176d1691424cbd1efaa3d6524e762';

export const usage = `usage: npm run bench -- [options]
Starts a stack of its own (npm start on free ports), measures the service and its three references side
by side, prints a table and writes tools/bench/results/<date>.json and .png (…-quick.* with --quick).
  --quick                   a 1–2 minute smoke run (small sizes; any size flag below still wins)
  --orders N                orders per closed-loop run of the service and the no-op reference (default 300; quick 40)
  --classic-orders N        orders of the classic consumer's closed-loop run (default 3000; quick 300)
  --concurrency N           producers of the closed-loop runs and of the duplicate POSTs (default 32)
  --step-seconds N          length of each open-loop step at 25/50/100% of the maximum (default 15; quick 3)
  --duplicates N            duplicate POSTs of orders already accepted (default 2000; quick 200)
  --intake N                order commands produced to Kafka for the intake rate (default 300; quick 50)
  --ceiling-seconds N       length of the PostgreSQL ceiling run (default 10; quick 2)
  --ceiling-connections N   connections of the PostgreSQL ceiling run (default 8)
  --fault-messages N        messages for the classic consumer under kill -9 and a PostgreSQL restart (default 1500; quick 200)
  --waiting N               manual sagas left waiting for the worker memory figure (default 500; quick 100; --waiting 10000 for the issue's figure)
  --waiting-timeout N       seconds to wait for them all to wait (default 900; quick 300)
  --baseline REF            the commit whose service the run compares against, on a stack of its own (default: the last
                            commit before issue 8's speed work, ${defaultBaseline.slice(0, 7)})
  --baseline-rounds N       alternating rounds of the service and the baseline (default 3; quick 1)
  --workers LIST            worker process counts to compare (default 1,2,4; quick 1,2)
  --accounts N              accounts and SKUs the orders spread over (default 64)
  --skip LIST               leave out sections: ${sections.join(',')} (rates, duplicates and history need maximum)
  --out DIR                 where the results go (default tools/bench/results)
Exits 1 if a run fails, 2 on a bad flag.`;

export interface Flags {
  quick: boolean;
  orders: number;
  classicOrders: number;
  concurrency: number;
  stepSeconds: number;
  duplicates: number;
  intake: number;
  ceilingSeconds: number;
  ceilingConnections: number;
  faultMessages: number;
  waiting: number;
  waitingTimeoutSeconds: number;
  workers: number[];
  accounts: number;
  skip: Set<Section>;
  baseline: string;
  baselineRounds: number;
  outDir: string;
  help: boolean;
}

type Sized =
  | 'orders'
  | 'baseline-rounds'
  | 'classic-orders'
  | 'concurrency'
  | 'step-seconds'
  | 'duplicates'
  | 'intake'
  | 'ceiling-seconds'
  | 'ceiling-connections'
  | 'fault-messages'
  | 'waiting'
  | 'waiting-timeout'
  | 'accounts';

const sizes: Record<Sized, { full: number; quick: number; min: number; max: number }> = {
  orders: { full: 300, quick: 40, min: 10, max: 100_000 },
  'baseline-rounds': { full: 3, quick: 1, min: 1, max: 20 },
  'classic-orders': { full: 3000, quick: 300, min: 10, max: 1_000_000 },
  concurrency: { full: 32, quick: 32, min: 1, max: 1024 },
  'step-seconds': { full: 15, quick: 3, min: 2, max: 3_600 },
  duplicates: { full: 2000, quick: 200, min: 1, max: 1_000_000 },
  intake: { full: 300, quick: 50, min: 1, max: 1_000_000 },
  'ceiling-seconds': { full: 10, quick: 2, min: 1, max: 3_600 },
  'ceiling-connections': { full: 8, quick: 8, min: 1, max: 100 },
  'fault-messages': { full: 1500, quick: 200, min: 50, max: 1_000_000 },
  waiting: { full: 500, quick: 100, min: 1, max: 100_000 },
  'waiting-timeout': { full: 900, quick: 300, min: 10, max: 86_400 },
  accounts: { full: 64, quick: 64, min: 1, max: 100_000 },
};

export function parseFlags(argv: string[], repoDir: string): Flags {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      workers: { type: 'string' },
      baseline: { type: 'string', default: defaultBaseline },
      skip: { type: 'string', default: '' },
      out: { type: 'string', default: path.join(repoDir, 'tools', 'bench', 'results') },
      ...Object.fromEntries(Object.keys(sizes).map((k) => [k, { type: 'string' as const }])),
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}`);
  const quick = values.quick === true;
  const size = (name: Sized): number => {
    const spec = sizes[name];
    const raw = (values as Record<string, string | boolean | undefined>)[name];
    if (raw === undefined) return quick ? spec.quick : spec.full;
    const n = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isInteger(n) || n < spec.min || n > spec.max) {
      throw new UsageError(`--${name} must be a whole number from ${spec.min} to ${spec.max}, got ${String(raw)}`);
    }
    return n;
  };
  const workers = String(values.workers ?? (quick ? '1,2' : '1,2,4'))
    .split(',')
    .map((w) => Number(w.trim()));
  if (workers.length === 0 || workers.some((w) => !Number.isInteger(w) || w < 1 || w > 16) || workers[0] !== 1) {
    throw new UsageError(`--workers must be a comma list of whole numbers from 1 to 16 starting with 1, got ${String(values.workers)}`);
  }
  const skip = new Set<Section>();
  for (const name of String(values.skip)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(sections as readonly string[]).includes(name)) throw new UsageError(`--skip: unknown section ${name}; sections: ${sections.join(', ')}`);
    skip.add(name as Section);
  }
  return {
    quick,
    orders: size('orders'),
    classicOrders: size('classic-orders'),
    concurrency: size('concurrency'),
    stepSeconds: size('step-seconds'),
    duplicates: size('duplicates'),
    intake: size('intake'),
    ceilingSeconds: size('ceiling-seconds'),
    ceilingConnections: size('ceiling-connections'),
    faultMessages: size('fault-messages'),
    waiting: size('waiting'),
    waitingTimeoutSeconds: size('waiting-timeout'),
    workers: [...new Set(workers)].sort((a, b) => a - b),
    accounts: size('accounts'),
    skip,
    baseline: String(values.baseline),
    baselineRounds: size('baseline-rounds'),
    outDir: path.resolve(String(values.out)),
    help: values.help === true,
  };
}
