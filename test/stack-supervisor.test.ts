import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { canConnect, repoRoot } from '../tools/stack/servers';
import { freePort } from './global-setup';

interface Stack {
  child: ChildProcess;
  dir: string;
  ports: Record<string, number>;
  output: () => string;
  exited: Promise<number | null>;
}

const stacks: Stack[] = [];

async function startStack(extraEnv: NodeJS.ProcessEnv = {}, { waitUntilUp = true } = {}): Promise<Stack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stack-sup-'));
  chmodSync(dir, 0o755);
  copyFileSync(path.join(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'), 'toolchain.env'), path.join(dir, 'toolchain.env'));
  const ports: Record<string, number> = {};
  for (const name of ['API_PORT', 'PG_PORT', 'KAFKA_PORT', 'KAFKA_CONTROLLER_PORT', 'TEMPORAL_PORT', 'TEMPORAL_UI_PORT']) ports[name] = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, STACK_DIR: dir, LOG_LEVEL: 'warn', ...extraEnv };
  for (const [name, port] of Object.entries(ports)) env[name] = String(port);
  for (const name of ['TEMPORAL_ADDRESS', 'DATABASE_URL', 'KAFKA_BROKERS']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tools/stack/start.ts')], { cwd: repoRoot, env });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const stack: Stack = { child, dir, ports, output: () => output, exited: new Promise((resolve) => child.on('exit', resolve)) };
  stacks.push(stack);
  if (waitUntilUp) await waitForOutput(stack, 'saga-orchestrator is up', 150_000);
  return stack;
}

/** Resolves with the first match once the stack prints it; fails at once if the stack exits. */
async function waitForOutput(stack: Stack, pattern: string | RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const regex = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = stack.output().match(regex);
    if (match) return match;
    if (stack.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`no ${String(regex)} (exit ${stack.child.exitCode}) in:\n${stack.output()}`);
    }
    await sleep(100);
  }
}

function processTable(): { pid: number; ppid: number; args: string }[] {
  return spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
}

/** The stack's own child running `entry`: the parent PID tells it apart from every other stack on the machine. */
function childPid(stack: Stack, entry: string): number {
  const found = processTable().filter((p) => p.ppid === stack.child.pid && p.args.includes(entry));
  expect(found, `one ${entry} under the stack`).toHaveLength(1);
  return found[0]!.pid;
}

/** The stack's children and their children (PostgreSQL's backends), as "pid args" so a reused PID does not match. */
function descendants(stack: Stack): string[] {
  const table = processTable();
  const pids = new Set([stack.child.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of table) if (pids.has(p.ppid) && !pids.has(p.pid)) grew = Boolean(pids.add(p.pid));
  }
  return table.filter((p) => p.pid !== stack.child.pid && pids.has(p.pid)).map((p) => `${p.pid} ${p.args}`);
}

async function expectNothingLeft(stack: Stack, before: string[]): Promise<void> {
  for (const [name, port] of Object.entries(stack.ports)) expect(await canConnect(port), `${name} ${port} still bound`).toBe(false);
  const alive = new Set(processTable().map((p) => `${p.pid} ${p.args}`));
  expect(before.filter((p) => alive.has(p))).toEqual([]);
  expect(processTable().filter((p) => p.args.includes(stack.dir))).toEqual([]);
}

async function pollsWithPid(stack: Stack, pid: number): Promise<boolean> {
  const connection = await Connection.connect({ address: `127.0.0.1:${stack.ports.TEMPORAL_PORT}` });
  try {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: 'orders' },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (pollers ?? []).some((p) => p.identity?.startsWith(`${pid}@`));
  } finally {
    await connection.close();
  }
}

async function api(stack: Stack, method: string, route: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`http://127.0.0.1:${stack.ports.API_PORT}${route}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (
    !(await Promise.resolve()
      .then(check)
      .catch(() => false))
  ) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000}s`);
    await sleep(250);
  }
}

afterEach(async () => {
  // A failed test must not leave its stack running.
  for (const stack of stacks.splice(0)) {
    if (stack.child.exitCode !== null) continue;
    stack.child.kill('SIGINT');
    await Promise.race([stack.exited, sleep(60_000)]);
  }
});

describe('npm start supervises what it started', () => {
  it('restarts a killed worker, API and PostgreSQL while the rest keeps serving', { timeout: 300_000 }, async () => {
    const stack = await startStack();
    const log = (name: string) => path.join(stack.dir, 'logs', `${name}.log`);

    // The worker: the API must not notice.
    const oldWorker = childPid(stack, 'worker/main.ts');
    let healthChecks = 0;
    const healthFailures: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const status = await api(stack, 'GET', '/healthz').then(
          (r) => String(r.status),
          (err: Error) => err.message,
        );
        healthChecks++;
        if (status !== '200') healthFailures.push(status);
        await sleep(100);
      }
    })();
    process.kill(oldWorker, 'SIGKILL');
    await waitForOutput(stack, `stack: worker exited (signal SIGKILL); restarting in 0.5s (restart 1 of 5 in 120s); log: ${log('worker')}\n`);
    const newWorker = Number((await waitForOutput(stack, /stack: worker is back \(pid (\d+)\)\n/))[1]);
    watching = false;
    await watcher;
    expect(healthFailures).toEqual([]);
    expect(healthChecks).toBeGreaterThan(5);
    expect(newWorker).not.toBe(oldWorker);
    expect(childPid(stack, 'worker/main.ts')).toBe(newWorker);
    expect(await pollsWithPid(stack, newWorker)).toBe(true);
    expect((await api(stack, 'GET', '/readyz')).body).toEqual({ status: 'ready', database: 'ok', temporal: 'ok' });

    // The API itself.
    process.kill(childPid(stack, 'api/server.ts'), 'SIGKILL');
    await waitForOutput(stack, `stack: api exited (signal SIGKILL); restarting in 0.5s (restart 1 of 5 in 120s); log: ${log('api')}\n`);
    await waitForOutput(stack, /stack: api is back \(pid \d+\)\n/);
    expect((await api(stack, 'GET', '/healthz')).body).toEqual({ status: 'ok' });

    // PostgreSQL: the postmaster, leaving its backends to notice on their own.
    const postmaster = processTable().find((p) => p.ppid === stack.child.pid && p.args.includes(`-D ${stack.dir}/postgres`))!;
    process.kill(postmaster.pid, 'SIGKILL');
    await waitForOutput(stack, `stack: postgres exited (signal SIGKILL); restarting in 0.5s (restart 1 of 5 in 120s); log: ${log('postgres')}\n`);
    await waitForOutput(stack, /stack: postgres is back \(pid \d+\)\n/);
    await eventually('/readyz with the database ok', async () => (await api(stack, 'GET', '/readyz')).body.database === 'ok');

    // After all that, an order still runs end to end on the restarted worker and database.
    expect((await api(stack, 'POST', '/accounts', { accountId: 'alice', openingBalanceCents: 10_000 })).status).toBe(201);
    expect((await api(stack, 'PUT', '/inventory/book-1', { available: 5 })).status).toBe(200);
    const order = { customerId: 'alice', items: [{ sku: 'book-1', quantity: 2, unitPriceCents: 1999 }] };
    expect((await api(stack, 'POST', '/orders', order, { 'idempotency-key': 'order-1' })).status).toBe(202);
    await eventually('order-1 CONFIRMED', async () => (await api(stack, 'GET', '/orders/order-1')).body.status === 'CONFIRMED');

    // Ctrl-C while a restarted worker is still starting (it bundles the workflow code first) stops it all the same.
    expect(stack.child.exitCode).toBeNull();
    process.kill(newWorker, 'SIGKILL');
    const isNewWorker = (p: { pid: number; ppid: number; args: string }) =>
      p.ppid === stack.child.pid && p.args.includes('worker/main.ts') && p.pid !== newWorker;
    await eventually('a third worker process', () => processTable().some(isNewWorker), 10_000);
    const running = descendants(stack);
    stack.child.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    expect(stack.output()).not.toContain('error:');
    await expectNothingLeft(stack, running);
  });

  it('a fleet survives a worker killed -9 while it starts, each worker in turn and both at once', { timeout: 300_000 }, async () => {
    const stack = await startStack({ WORKERS: '2' }, { waitUntilUp: false });
    const log = (name: string) => path.join(stack.dir, 'logs', `${name}.log`);
    const workers = () => processTable().filter((p) => p.ppid === stack.child.pid && p.args.includes('worker/main.ts'));
    // Killed before it polls (it is still bundling): the stack used to stop here, quoting an earlier run's log line.
    await eventually('a worker process', () => workers().length > 0, 60_000);
    const starting = workers()[0]!.pid;
    process.kill(starting, 'SIGKILL');
    const [, name] = await waitForOutput(
      stack,
      /stack: (worker-\d) failed to start \(a worker polling task queue orders exited \(signal SIGKILL\) during start-up/,
    );
    await waitForOutput(stack, 'saga-orchestrator is up', 150_000);
    expect(readFileSync(log(name!), 'utf8')).toContain(`"pid":${starting},"exit":"exited (signal SIGKILL)"`);

    expect((await api(stack, 'POST', '/accounts', { accountId: 'alice', openingBalanceCents: 1_000_000 })).status).toBe(201);
    expect((await api(stack, 'PUT', '/inventory/book-1', { available: 1_000 })).status).toBe(200);
    const order = { customerId: 'alice', items: [{ sku: 'book-1', quantity: 1, unitPriceCents: 100 }] };
    const sent: string[] = [];
    const send = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const id = `order-${sent.length + 1}`;
        sent.push(id);
        expect((await api(stack, 'POST', '/orders', order, { 'idempotency-key': id })).status).toBe(202);
      }
    };
    const pidOf = (worker: string) => Number([...stack.output().matchAll(new RegExp(`${worker} (?:is back )?\\(pid (\\d+)\\)`, 'g'))].at(-1)![1]);
    const count = (pattern: RegExp) => stack.output().match(pattern)?.length ?? 0;
    for (const victims of [['worker-1'], ['worker-2'], ['worker-1', 'worker-2']]) {
      await send(10);
      const backBefore = count(/stack: worker-\d is back/g);
      for (const victim of victims) {
        const killsBefore = count(new RegExp(`stack: ${victim} exited \\(signal SIGKILL\\); restarting`, 'g'));
        process.kill(pidOf(victim), 'SIGKILL');
        await eventually(
          `${victim}'s exit seen`,
          () => count(new RegExp(`stack: ${victim} exited \\(signal SIGKILL\\); restarting`, 'g')) > killsBefore,
          10_000,
        );
      }
      // Orders keep arriving while the fleet is down a worker (or both).
      await send(10);
      await eventually(`${victims.join(' and ')} back`, () => count(/stack: worker-\d is back/g) >= backBefore + victims.length, 120_000);
    }
    for (const id of sent) await eventually(`${id} CONFIRMED`, async () => (await api(stack, 'GET', `/orders/${id}`)).body.status === 'CONFIRMED', 120_000);
    expect((await api(stack, 'GET', '/accounts/alice')).body.balanceCents).toBe(1_000_000 - 99 * sent.length); // 100 cents each, 1 cent cashback
    expect(workers()).toHaveLength(2);
    expect(stack.child.exitCode).toBeNull();
    expect(stack.output()).not.toContain('error:');
    const running = descendants(stack);
    stack.child.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    await expectNothingLeft(stack, running);
  });

  it('a crash loop stops the whole stack with one line naming the process and its log', { timeout: 240_000 }, async () => {
    const stack = await startStack({ STACK_MAX_RESTARTS: '1', STACK_RESTART_WINDOW_SECONDS: '600' });
    const logFile = path.join(stack.dir, 'logs', 'worker.log');
    process.kill(childPid(stack, 'worker/main.ts'), 'SIGKILL');
    await waitForOutput(stack, `stack: worker exited (signal SIGKILL); restarting in 0.5s (restart 1 of 1 in 600s); log: ${logFile}\n`);
    const worker = Number((await waitForOutput(stack, /stack: worker is back \(pid (\d+)\)\n/))[1]);
    const running = descendants(stack);
    process.kill(worker, 'SIGKILL');

    expect(await stack.exited).toBe(1);
    const errors = stack
      .output()
      .split('\n')
      .filter((line) => line.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^error: worker is crash-looping \(exited 2 times in \d+s; last exited \(signal SIGKILL\)\); see (.*)\. Stopping the stack\.$/);
    expect(errors[0]).toContain(`see ${logFile}. Stopping`);
    await expectNothingLeft(stack, running);
  });

  it.each([
    ['STACK_MAX_RESTARTS', 'many', 'expected a whole number from 0 to 1000'],
    ['STACK_MAX_RESTARTS', '-1', 'expected a whole number from 0 to 1000'],
    ['STACK_RESTART_WINDOW_SECONDS', '0.5', 'expected a whole number from 1 to 86400'],
  ])('a bad %s=%s stops the start with one line', async (name, value, expected) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'tools/stack/start.ts')], {
      cwd: repoRoot,
      env: { ...process.env, STACK_DIR: mkdtempSync(path.join(os.tmpdir(), 'stack-sup-')), [name]: value },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toBe(`error: invalid ${name}="${value}": ${expected}; fix it or unset ${name} to use the default\n`);
  });
});
