import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../api/app';
import { preferredWaitSeconds } from '../api/prefer';
import { loadConfig } from '../config';
import { assertInvariants } from './helpers/invariants';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { ledgerOf, seed, uniqueIds } from './helpers/seed';

describe('the Prefer header', () => {
  it.each([
    [undefined, undefined],
    ['wait=5', 5],
    ['WAIT = 3', 3],
    ['respond-async, wait=4', 4],
    ['wait="2"', 2],
    ['wait=0', 0],
    ['wait=100', 10],
    ['wait=abc', undefined],
    ['wait=-1', undefined],
    ['wait=1.5', undefined],
    ['respond-async', undefined],
    ['wait=999999', 10],
    ['wait=1000000', 10],
    [`wait=${'9'.repeat(400)}`, 10],
    [`${'x-private=1, '.repeat(200)}wait=3`, 3],
  ])('%s → %s (capped at 10)', (header, expected) => expect(preferredWaitSeconds(header, 10)).toBe(expected));
});

describe('POST /orders with Prefer: wait, on real Temporal and PostgreSQL', () => {
  let stack: RealStack;
  let app: FastifyInstance;

  beforeAll(async () => {
    stack = await startRealStack();
    const config = loadConfig({
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      API_MAX_WAIT_SECONDS: '4',
      LOG_LEVEL: 'silent',
    });
    app = await buildApp(config, { logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  });
  afterEach(async () => assertInvariants(stack.db.pool, { allowPending: true }));

  const post = (payload: object, headers: Record<string, string>) => app.inject({ method: 'POST', url: '/orders', payload, headers });
  const order = (ids: ReturnType<typeof uniqueIds>, extra: object = {}) => ({
    customerId: ids.account,
    items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 500 }],
    ...extra,
  });

  it('an auto order answers 200 CONFIRMED within the wait; copies sent at once and later get the same outcome', async () => {
    const ids = uniqueIds('wait-ok');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(order(ids), { 'idempotency-key': ids.message, prefer: 'wait=4' })));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(10).fill(200));
    expect(answers.map((a) => a.headers['preference-applied'])).toEqual(Array(10).fill('wait=4'));
    const bodies = answers.map((a) => a.json<{ status: string; duplicate: boolean; runId: string; needsReview: boolean }>());
    expect(bodies.map((b) => b.status)).toEqual(Array(10).fill('CONFIRMED'));
    expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);
    expect(new Set(bodies.map((b) => b.runId)).size).toBe(1);
    expect(bodies[0]!.needsReview).toBe(false);
    expect((await ledgerOf(stack.db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(1);

    const late = await post(order(ids), { 'idempotency-key': ids.message, prefer: 'wait=4' });
    expect({ code: late.statusCode, body: late.json<unknown>() }).toMatchObject({
      code: 200,
      body: { status: 'CONFIRMED', duplicate: true, runId: bodies[0]!.runId },
    });
  });

  it('an order its customer cannot pay answers 200 CANCELLED with the reason the database stored', async () => {
    const ids = uniqueIds('wait-poor');
    await seed(stack.db.pool, { account: [ids.account, 100], skus: [[ids.sku, 10]] });
    const answer = await post(order(ids), { 'idempotency-key': ids.message, prefer: 'wait=4' });
    expect(answer.statusCode).toBe(200);
    const body = answer.json<{ status: string; reason: string }>();
    const { rows } = await stack.db.pool.query<{ cancel_reason: string }>('select cancel_reason from orders where id = $1', [ids.message]);
    expect(body).toMatchObject({ status: 'CANCELLED', reason: rows[0]!.cancel_reason });
    expect(body.reason).toMatch(/InsufficientFunds/);
    const copy = await post(order(ids), { 'idempotency-key': ids.message, prefer: 'wait=1' });
    expect(copy.json()).toMatchObject({ status: 'CANCELLED', reason: rows[0]!.cancel_reason, duplicate: true });
  });

  it('an order still waiting for its confirmation answers 202 PENDING once the wait runs out; past the cap the wait is the cap', async () => {
    const ids = uniqueIds('wait-manual');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const began = Date.now();
    const answer = await post(order(ids, { confirmation: 'manual' }), { 'idempotency-key': ids.message, prefer: 'wait=60' });
    expect(Date.now() - began).toBeGreaterThanOrEqual(4_000);
    expect({ code: answer.statusCode, applied: answer.headers['preference-applied'] }).toEqual({ code: 202, applied: 'wait=4' });
    expect(answer.json()).toMatchObject({ status: 'PENDING', duplicate: false });
    const copy = await post(order(ids, { confirmation: 'manual' }), { 'idempotency-key': ids.message, prefer: 'wait=1' });
    expect({ code: copy.statusCode, status: copy.json<{ status: string }>().status }).toEqual({ code: 200, status: 'PENDING' });
    await app.inject({ method: 'POST', url: `/orders/${ids.message}/confirm`, payload: {} });
    await stack.result(ids.message);
  });

  it('a Prefer it cannot honour (malformed, or another preference) is ignored: the answer is the usual one', async () => {
    for (const prefer of ['wait=abc', 'respond-async', `respond-async${', x-private=1'.repeat(400)}`]) {
      const ids = uniqueIds('wait-ignored');
      await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
      const answer = await post(order(ids), { 'idempotency-key': ids.message, prefer });
      expect({ code: answer.statusCode, applied: answer.headers['preference-applied'], status: answer.json<{ status: string }>().status }).toEqual({
        code: 202,
        applied: undefined,
        status: 'PENDING',
      });
      await stack.result(ids.message);
    }
  });

  it('a listener whose connection is cut still answers: the recheck sees the order end', async () => {
    const { rows } = await stack.db.pool.query<{ n: number }>(
      "select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen %'",
    );
    expect(rows[0]!.n).toBe(1);
    const ids = uniqueIds('wait-unheard');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const answer = await post(order(ids), { 'idempotency-key': ids.message, prefer: 'wait=4' });
    expect({ code: answer.statusCode, status: answer.json<{ status: string }>().status }).toEqual({ code: 200, status: 'CONFIRMED' });
    // And it listens again.
    await vi.waitFor(
      async () => {
        const again = await stack.db.pool.query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'listen %'",
        );
        expect(again.rows[0]!.n).toBe(1);
      },
      { timeout: 10_000 },
    );
  });

  it('Temporal going down during the wait: the accepted order answers 202 PENDING, and its saga ends once Temporal is back', async () => {
    const ids = uniqueIds('wait-outage');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const answering = post(order(ids, { confirmation: 'manual' }), { 'idempotency-key': ids.message, prefer: 'wait=4' });
    await new Promise((r) => setTimeout(r, 1_000));
    await stack.temporal.stop();
    let answer;
    try {
      answer = await answering;
    } finally {
      await stack.temporal.restart();
    }
    expect({ code: answer.statusCode, status: answer.json<{ status: string }>().status }).toEqual({ code: 202, status: 'PENDING' });
    let confirmed;
    for (let i = 0; i < 100 && confirmed?.statusCode !== 200; i++) {
      confirmed = await app.inject({ method: 'POST', url: `/orders/${ids.message}/confirm`, payload: {} });
      if (confirmed.statusCode !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(confirmed?.statusCode).toBe(200);
    expect(await stack.result(ids.message)).toMatchObject({ state: 'CONFIRMED' });
  });
});
