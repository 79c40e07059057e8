import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Limits } from '../../domain/limits';

/**
 * The API fuzz: Schemathesis reads the published document (/docs/json), sends what it generates, and checks every
 * answer against it with all of its checks. Known accounts, SKUs and orders (the fixtures, made through the API
 * first) are drawn from dictionaries part of the time, so that valid orders confirm and valid refunds are accepted,
 * not only refused as unknown.
 */

export interface Fixtures {
  accounts: string[];
  skus: string[];
  /** A confirmed order with a large total (refunds of it are accepted until they reach it) and a manual one awaiting its decision. */
  orders: string[];
  /** A refund of the confirmed order. */
  refunds: string[];
}

export interface FuzzOptions {
  baseUrl: string;
  apiKey: string;
  schemathesisBin: string;
  seed: number;
  /** Examples per operation and phase. */
  maxExamples: number;
  workers?: number;
  /** Prefix of every fixture's ID, so runs against one stack never collide. */
  runId: string;
}

export interface FuzzCall {
  method: string;
  path: string;
  status: number;
}

export interface FuzzResult {
  exitCode: number;
  output: string;
  calls: FuzzCall[];
  /** 200 or 202 answers to POST /orders and POST /orders/{orderId}/refunds. */
  accepted: { orders: number; refunds: number };
  fixtures: Fixtures;
}

async function call(options: FuzzOptions, method: string, url: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const response = await fetch(`${options.baseUrl}${url}`, {
    method,
    headers: { authorization: `Bearer ${options.apiKey}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (response.status >= 300) throw new Error(`fixture ${method} ${url} answered ${response.status}: ${JSON.stringify(answer)}`);
  return answer;
}

/** Accounts rich enough for large orders, SKUs deep enough for any quantity, a confirmed order and one awaiting its decision. */
export async function seedFixtures(options: FuzzOptions): Promise<Fixtures> {
  const id = (name: string) => `${options.runId}-${name}`;
  const fixtures: Fixtures = {
    accounts: [id('alice'), id('bob')],
    skus: [id('book'), id('pen')],
    orders: [id('confirmed'), id('manual')],
    refunds: [id('refund')],
  };
  for (const account of fixtures.accounts)
    await call(options, 'POST', '/accounts', { accountId: account, openingBalanceCents: 100 * Limits.maxOrderTotalCents });
  for (const sku of fixtures.skus) await call(options, 'PUT', `/inventory/${sku}`, { available: Limits.maxStockLevel });
  const confirmed = (await call(
    options,
    'POST',
    '/orders',
    { customerId: fixtures.accounts[0], items: [{ sku: fixtures.skus[0], quantity: 1_000, unitPriceCents: Limits.maxOrderTotalCents / 1_000 }] },
    { 'idempotency-key': fixtures.orders[0]!, prefer: 'wait=20' },
  )) as { status: string };
  if (confirmed.status !== 'CONFIRMED') throw new Error(`fixture order ${fixtures.orders[0]} is ${confirmed.status}, not CONFIRMED`);
  await call(
    options,
    'POST',
    '/orders',
    {
      customerId: fixtures.accounts[1],
      items: [{ sku: fixtures.skus[1], quantity: 1, unitPriceCents: 100 }],
      confirmation: 'manual',
      confirmWithin: '168 hours',
    },
    { 'idempotency-key': fixtures.orders[1]! },
  );
  await call(options, 'POST', `/orders/${fixtures.orders[0]}/refunds`, { refundId: fixtures.refunds[0], amountCents: 1, reason: 'fixture' });
  return fixtures;
}

const toml = (value: unknown) => JSON.stringify(value);

/** The run's configuration: every check, the fixtures as dictionaries, the seed. */
export function fuzzConfig(options: FuzzOptions, fixtures: Fixtures): string {
  const dictionary = (name: string, values: string[]) => `[dictionaries.${name}]\nvalues = ${toml(values)}\n`;
  const bind = (key: string, name: string, probability: number) => `${toml(key)} = { dictionary = ${toml(name)}, probability = ${probability} }`;
  return [
    `seed = ${options.seed}`,
    `workers = ${options.workers ?? 1}`,
    `base-url = ${toml(options.baseUrl)}`,
    `request-timeout = 30`,
    `[headers]\nAuthorization = ${toml(`Bearer ${options.apiKey}`)}`,
    `[generation]\nmax-examples = ${options.maxExamples}\ndeterministic = false`,
    `[checks]\nenabled = true`,
    dictionary('accounts', fixtures.accounts),
    dictionary('skus', fixtures.skus),
    dictionary('orders', fixtures.orders),
    dictionary('refunds', fixtures.refunds),
    `[parameters]`,
    bind('body.customerId', 'accounts', 0.7),
    bind('body.items[*].sku', 'skus', 0.7),
    bind('path.orderId', 'orders', 0.7),
    bind('path.refundId', 'refunds', 0.7),
    bind('path.accountId', 'accounts', 0.7),
    bind('path.sku', 'skus', 0.7),
    '',
  ].join('\n');
}

/** Runs Schemathesis once against the API; a finding makes its exit code nonzero. */
export async function runFuzz(options: FuzzOptions, { onOutput }: { onOutput?: (chunk: string) => void } = {}): Promise<FuzzResult> {
  const fixtures = await seedFixtures(options);
  const dir = await mkdtemp(path.join(tmpdir(), 'api-fuzz-'));
  const config = path.join(dir, 'schemathesis.toml');
  const results = path.join(dir, 'calls.jsonl');
  await writeFile(config, fuzzConfig(options, fixtures));
  await writeFile(results, '');
  const args = ['--config-file', config, 'run', `${options.baseUrl}/docs/json`, '--checks', 'all', '--no-color'];
  const child = spawn(options.schemathesisBin, args, {
    cwd: dir,
    env: {
      ...process.env,
      SCHEMATHESIS_HOOKS: 'hooks',
      PYTHONPATH: __dirname,
      FUZZ_RESULTS: results,
      FUZZ_MAX_ORDER_TOTAL_CENTS: String(Limits.maxOrderTotalCents),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const take = (chunk: Buffer) => {
    output += chunk.toString();
    onOutput?.(chunk.toString());
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const calls = (await readFile(results, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as FuzzCall);
  const accepted = (p: string) => calls.filter((c) => c.method === 'POST' && c.path === p && (c.status === 200 || c.status === 202)).length;
  return { exitCode, output, calls, accepted: { orders: accepted('/orders'), refunds: accepted('/orders/{orderId}/refunds') }, fixtures };
}
