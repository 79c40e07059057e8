import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findProcesses, startOwnStack, type ChaosStack } from '../tools/chaos/stack';
import { createPool, type Pool } from '../db/pool';
import { repoRoot } from '../tools/stack/servers';
import { assertInvariants } from './helpers/invariants';
import { seed } from './helpers/seed';

type Fate = 'funded' | 'unfunded' | 'confirm' | 'cancel';
const expected: Record<Fate, string> = { funded: 'CONFIRMED', unfunded: 'CANCELLED', confirm: 'CONFIRMED', cancel: 'CANCELLED' };

/**
 * The fleet under worker faults (issue 10): 200 sagas in flight across two workers, some waiting in
 * manual mode; one worker is stopped gracefully (SIGTERM drains it), the other killed (kill -9), and a
 * fresh one started. Every saga must end as its inputs dictate, with every invariant holding.
 */
describe('a fleet of two workers: SIGTERM one, kill -9 the other, start a fresh one', () => {
  let stack: ChaosStack;
  let pool: Pool;
  let connection: Connection;
  let fresh: ChildProcess | undefined;
  const run = randomUUID().slice(0, 6);

  beforeAll(async () => {
    stack = await startOwnStack({ WORKERS: '2', INTAKE_BACKLOG_LIMIT: '0', LOG_LEVEL: 'info' });
    pool = createPool({ connectionString: stack.databaseUrl, max: 4 });
    connection = await Connection.connect({ address: stack.temporalAddress });
  }, 300_000);
  afterAll(async () => {
    fresh?.kill('SIGKILL');
    await connection?.close();
    await pool?.end();
    await stack?.stop();
    stack?.discard();
  });

  const post = async (url: string, body: unknown) => {
    for (;;) {
      const res = await fetch(`${stack.apiUrl}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      // Answers that promise nothing was done (or that it may still be) are retried with the same request.
      if (res.status !== 503) return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      await sleep(500);
    }
  };

  it('200 sagas end as their inputs dictate; nothing lost, doubled or stranded', { timeout: 600_000 }, async () => {
    const fates: Fate[] = Array.from({ length: 200 }, (_, i) => (['funded', 'funded', 'unfunded', 'confirm', 'cancel'] as const)[i % 5]!);
    const orders = fates.map((fate, i) => ({ id: `fleet-${run}-${i}`, account: `fleet-${run}-acct-${i}`, fate }));
    const sku = `fleet-${run}-sku`;
    await seed(pool, { skus: [[sku, 1_000]] });
    for (const o of orders) await seed(pool, { account: [o.account, o.fate === 'unfunded' ? 100 : 10_000] });

    const workers = findProcesses(stack.stackPid, 'worker');
    expect(workers).toHaveLength(2);

    const accepted = await Promise.all(
      orders.map(async (o, i) => {
        await sleep(i * 15); // a stream, not a burst, so faults land mid-flight
        const manual = o.fate === 'confirm' || o.fate === 'cancel';
        const answer = await post('/orders', {
          messageId: o.id,
          customerId: o.account,
          items: [{ sku, quantity: 1, unitPriceCents: 500 }],
          ...(manual ? { confirmation: 'manual' } : {}),
        });
        return answer.status;
      }),
    );
    expect(accepted.filter((code) => code !== 202 && code !== 200)).toEqual([]);

    process.kill(workers[0]!, 'SIGTERM');
    process.kill(workers[1]!, 'SIGKILL');
    fresh = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'worker/main.ts')], {
      cwd: repoRoot,
      env: { ...process.env, TEMPORAL_ADDRESS: stack.temporalAddress, DATABASE_URL: stack.databaseUrl, WORKER_NAME: 'fresh', LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });

    const decide = async (o: (typeof orders)[number]) => {
      for (;;) {
        const answer = await post(`/orders/${o.id}/${o.fate}`, o.fate === 'cancel' ? { reason: 'customer changed their mind' } : {});
        // 409 NotAwaitingDecision: the saga has not reached its wait yet (its worker was just killed).
        if (answer.status === 409 && answer.body.code === 'NotAwaitingDecision' && (answer.body.details as { state?: string })?.state === 'RUNNING') {
          await sleep(500);
          continue;
        }
        return answer;
      }
    };
    const manual = orders.filter((x) => x.fate === 'confirm' || x.fate === 'cancel');
    const answers = await Promise.all(manual.map(async (o, i) => ({ o, answer: await sleep(i * 20).then(() => decide(o)) })));
    expect(
      answers
        .filter(({ answer }) => answer.status !== 200 && answer.status !== 202)
        .map(({ o, answer }) => `${o.id}: ${answer.status} ${JSON.stringify(answer.body)}`),
    ).toEqual([]);

    const deadline = Date.now() + 240_000;
    let pending = orders.length;
    while (Date.now() < deadline) {
      // Not yet ended: PENDING, or not yet opened at all (a saga whose first task went to the killed worker).
      const { rows } = await pool.query<{ n: string }>(`select count(*) as n from orders where id like $1 and status <> 'PENDING'`, [`fleet-${run}-%`]);
      pending = orders.length - Number(rows[0]!.n);
      if (pending === 0) break;
      await sleep(1_000);
    }
    expect(pending, 'orders still PENDING').toBe(0);

    const { rows } = await pool.query<{ id: string; status: string }>(`select id, status from orders where id like $1`, [`fleet-${run}-%`]);
    const status = new Map(rows.map((r) => [r.id, r.status]));
    expect(orders.filter((o) => status.get(o.id) !== expected[o.fate]).map((o) => `${o.id} (${o.fate}): ${status.get(o.id) ?? 'missing'}`)).toEqual([]);
    await assertInvariants(pool);

    const client = new Client({ connection });
    const runs = new Map<string, number>();
    for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "order-fleet-${run}-"` }))
      runs.set(wf.workflowId, (runs.get(wf.workflowId) ?? 0) + 1);
    expect(runs.size).toBe(200);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    // The drained worker exits cleanly, the killed one does not; the supervisor restarts both.
    expect(
      stack.supervisorLines.some((l) => /worker-\d exited \(code 0\)/.test(l)),
      stack.supervisorLines.join('\n'),
    ).toBe(true);
    expect(
      stack.supervisorLines.some((l) => /worker-\d exited \(signal SIGKILL\)/.test(l)),
      stack.supervisorLines.join('\n'),
    ).toBe(true);
  });
});
