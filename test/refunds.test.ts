import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app';
import { createPool } from '../db/pool';
import { freePort } from './global-setup';
import { loadConfig } from '../config';
import { refundStatusQuery, type RefundSagaStatus } from '../contract/refund-saga';
import { refundFingerprint } from '../billing/refund-fingerprint';
import { restartUnstartedRefunds } from '../intake/restart-refunds';
import { refundWorkflowIdFor } from '../domain/refund';
import { refundSaga } from '../workflows/refund-saga';
import type { TestDatabase } from './helpers/database';
import { recordHistory, refundHistoriesDir } from './helpers/histories';
import { assertInvariants } from './helpers/invariants';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { availableOf, balanceOf, ledgerOf, seed, uniqueIds } from './helpers/seed';

describe('refunds on real Temporal (dev server) and PostgreSQL', () => {
  let stack: RealStack;
  let db: TestDatabase;
  let app: FastifyInstance;

  beforeAll(async () => {
    stack = await startRealStack();
    db = stack.db;
    // The app's own sweep stays out of the way: the tests below store unstarted refunds and sweep them themselves.
    const config = loadConfig({
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      LOG_LEVEL: 'silent',
      REFUND_RESTART_EVERY_MS: '600000',
    });
    app = await buildApp(config, { logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  });
  afterEach(async () => assertInvariants(db.pool));

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers });
  const get = (url: string) => app.inject({ method: 'GET', url });
  const refundResult = (refundId: string) => stack.client.workflow.getHandle<typeof refundSaga>(refundWorkflowIdFor(refundId)).result();
  /** `RECORD_HISTORIES=1` keeps the history as a replay fixture (test/replay.test.ts). */
  const keep = async (name: string, refundId: string) => {
    if (process.env.RECORD_HISTORIES)
      recordHistory(name, await stack.client.workflow.getHandle(refundWorkflowIdFor(refundId)).fetchHistory(), refundHistoriesDir);
  };

  /** A confirmed order of `quantity` units at `unitPriceCents`, paid from an account opened with `opening`. */
  async function confirmedOrder(prefix: string, { quantity = 2, unitPriceCents = 5_000, opening = 1_000_000 } = {}) {
    const ids = uniqueIds(prefix);
    await seed(db.pool, { account: [ids.account, opening], skus: [[ids.sku, 10]] });
    const placed = await post('/orders', { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity, unitPriceCents }] });
    expect(placed.statusCode).toBe(202);
    expect(await stack.result(ids.message)).toMatchObject({ state: 'CONFIRMED' });
    return { ...ids, orderId: ids.message, totalCents: quantity * unitPriceCents, opening };
  }

  it('a full refund credits what was paid less the cashback, restocks, ends REFUNDED with one event; a copy is 200, other content 409', async () => {
    const order = await confirmedOrder('full');
    expect(await availableOf(db.pool, order.sku)).toBe(8);
    const refundId = `${order.tag}-r1`;
    const body = { refundId, amountCents: order.totalCents, reason: 'returned in full' };
    const accepted = await post(`/orders/${order.orderId}/refunds`, body);
    expect(accepted.statusCode).toBe(202);
    expect(accepted.json()).toMatchObject({ refundId, orderId: order.orderId, amountCents: order.totalCents, status: 'PENDING', duplicate: false });

    const result = await refundResult(refundId);
    expect(result).toMatchObject({ state: 'REFUNDED', stepsApplied: ['credit', 'restock'], compensationsDone: [] });
    await keep('refund-full', refundId);
    // Debit 10,000, cashback +100, refund +10,000, cashback taken back −100.
    expect(await balanceOf(db.pool, order.account)).toBe(order.opening);
    expect((await ledgerOf(db.pool, order.account)).map((e) => [e.kind, e.amount_cents])).toEqual([
      ['debit', -10_000],
      ['reward', 100],
      ['refund', 10_000],
      ['reward', -100],
    ]);
    expect(await availableOf(db.pool, order.sku)).toBe(10);

    expect((await get(`/orders/${order.orderId}/refunds/${refundId}`)).json()).toMatchObject({
      status: 'REFUNDED',
      rejectReason: null,
      reason: 'returned in full',
    });
    const shown = (await get(`/orders/${order.orderId}`)).json<{ refundedCents: number; refunds: { refundId: string; status: string }[] }>();
    expect(shown).toMatchObject({ refundedCents: order.totalCents, refunds: [{ refundId, status: 'REFUNDED' }] });
    const { rows: events } = await db.pool.query<{ event_type: string }>('select event_type from outbox where refund_id = $1', [refundId]);
    expect(events.map((e) => e.event_type)).toEqual(['refund.completed']);

    const copy = await post(`/orders/${order.orderId}/refunds`, body, {});
    expect(copy.statusCode).toBe(200);
    expect(copy.json()).toMatchObject({ refundId, status: 'REFUNDED', duplicate: true, runId: accepted.json<{ runId: string }>().runId });
    const byHeader = await post(
      `/orders/${order.orderId}/refunds`,
      { amountCents: order.totalCents, reason: 'returned in full' },
      { 'idempotency-key': refundId },
    );
    expect(byHeader.statusCode).toBe(200);
    const changed = await post(`/orders/${order.orderId}/refunds`, { ...body, amountCents: 1 });
    expect(changed.statusCode).toBe(409);
    expect(changed.json()).toMatchObject({ error: 'RefundIdConflict' });
    const more = await post(`/orders/${order.orderId}/refunds`, { refundId: `${order.tag}-r2`, amountCents: 1 });
    expect(more.statusCode).toBe(409);
    expect(more.json()).toMatchObject({
      error: 'RefundExceedsPaid',
      details: { totalCents: order.totalCents, requestedCents: order.totalCents, amountCents: 1 },
    });
    expect(await balanceOf(db.pool, order.account)).toBe(order.opening);
  });

  it('partial refunds sum exactly: the cashback taken back adds up to the whole of it, and only the last one restocks', async () => {
    // 10,001 cents: 1% cashback is 100, which no three parts split evenly.
    const order = await confirmedOrder('partial', { quantity: 1, unitPriceCents: 10_001 });
    const parts = [3_333, 3_333, 3_335];
    for (const [n, amountCents] of parts.entries()) {
      const refundId = `${order.tag}-p${n}`;
      expect((await post(`/orders/${order.orderId}/refunds`, { refundId, amountCents })).statusCode).toBe(202);
      expect(await refundResult(refundId)).toMatchObject({ state: 'REFUNDED' });
      if (n === 0) await keep('refund-partial', refundId);
      expect(await availableOf(db.pool, order.sku)).toBe(n < parts.length - 1 ? 9 : 10);
    }
    const takenBack = (await ledgerOf(db.pool, order.account)).filter((e) => e.idempotency_key.endsWith(':reward')).map((e) => e.amount_cents);
    expect(takenBack).toEqual([100, -33, -33, -34]);
    expect(await balanceOf(db.pool, order.account)).toBe(order.opening);
    expect((await get(`/orders/${order.orderId}`)).json()).toMatchObject({ refundedCents: 10_001 });
  });

  it('20 concurrent refunds of a quarter each: four are accepted and refunded, sixteen are 409 RefundExceedsPaid', async () => {
    const order = await confirmedOrder('race');
    const quarter = order.totalCents / 4;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, n) => post(`/orders/${order.orderId}/refunds`, { refundId: `${order.tag}-q${n}`, amountCents: quarter })),
    );
    const accepted = answers.filter((a) => a.statusCode === 202).map((a) => a.json<{ refundId: string }>().refundId);
    expect(accepted).toHaveLength(4);
    expect(answers.filter((a) => a.statusCode === 409).map((a) => a.json<{ error: string }>().error)).toEqual(Array(16).fill('RefundExceedsPaid'));
    for (const refundId of accepted) expect(await refundResult(refundId)).toMatchObject({ state: 'REFUNDED' });
    expect(await balanceOf(db.pool, order.account)).toBe(order.opening);
  });

  it('the database holds the cap when sagas race past the intake: ten sagas of 30% started directly, three refund, seven are REJECTED', async () => {
    const order = await confirmedOrder('direct');
    const amountCents = (order.totalCents * 3) / 10;
    const results = await Promise.all(
      Array.from({ length: 10 }, async (_, n) => {
        const refundId = `${order.tag}-d${n}`;
        await stack.client.workflow.start(refundSaga, {
          taskQueue: stack.taskQueue,
          workflowId: refundWorkflowIdFor(refundId),
          args: [{ refundId, orderId: order.orderId, amountCents }],
        });
        return refundResult(refundId);
      }),
    );
    const states = results.map((r: RefundSagaStatus) => r.state);
    expect(states.filter((s) => s === 'REFUNDED')).toHaveLength(3);
    const rejected = results.filter((r) => r.state === 'REJECTED');
    expect(rejected).toHaveLength(7);
    for (const r of rejected) expect(r).toMatchObject({ stepsApplied: [], compensationsDone: [{ step: 'credit', outcome: 'fenced' }] });
    expect(rejected[0]!.reason).toMatch(/would pass what was paid/);
    const { rows } = await db.pool.query<{ refunded_cents: number; status: string; n: number }>(
      `select o.refunded_cents, r.status, count(*)::int as n from orders o join refunds r on r.order_id = o.id where o.id = $1 group by 1, 2 order by 2`,
      [order.orderId],
    );
    expect(rows).toEqual([
      { refunded_cents: amountCents * 3, status: 'REFUNDED', n: 3 },
      { refunded_cents: amountCents * 3, status: 'REJECTED', n: 7 },
    ]);
    const rejectedRow = (await get(`/orders/${order.orderId}/refunds/${rejected[0]!.refundId}`)).json<{ status: string; rejectReason: string }>();
    expect(rejectedRow.status).toBe('REJECTED');
    expect(rejectedRow.rejectReason).toMatch(/RefundExceedsPaid|would pass what was paid/);
    // And the column refuses a sum past the total whatever writes it.
    await expect(db.pool.query('update orders set refunded_cents = total_cents + 1 where id = $1', [order.orderId])).rejects.toMatchObject({ code: '23514' });
  });

  it('a refund of an order that is not confirmed is 409 OrderNotRefundable; of no order 404; a saga started on one ends REJECTED', async () => {
    const ids = uniqueIds('unpaid');
    await seed(db.pool, { account: [ids.account, 10], skus: [[ids.sku, 10]] });
    expect(
      (await post('/orders', { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 500 }] })).statusCode,
    ).toBe(202);
    expect(await stack.result(ids.message)).toMatchObject({ state: 'CANCELLED' });
    const refused = await post(`/orders/${ids.message}/refunds`, { refundId: `${ids.tag}-r`, amountCents: 100 });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ error: 'OrderNotRefundable', details: { status: 'CANCELLED' } });
    const missing = await post(`/orders/${ids.tag}-nothing/refunds`, { refundId: `${ids.tag}-r`, amountCents: 100 });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'OrderNotFound' });
    expect((await get(`/orders/${ids.message}/refunds/${ids.tag}-r`)).statusCode).toBe(404);
    // Accepted, its saga not yet at its first write: not confirmed, rather than missing.
    const accepted = `${ids.tag}-accepted`;
    await db.pool.query(`insert into processed_messages (message_id, workflow_id, source, fingerprint) values ($1, $2, 'rest', 'f')`, [
      accepted,
      `order-${accepted}`,
    ]);
    const early = await post(`/orders/${accepted}/refunds`, { refundId: `${ids.tag}-early`, amountCents: 100 });
    expect({ code: early.statusCode, body: early.json<unknown>() }).toMatchObject({
      code: 409,
      body: { error: 'OrderNotRefundable', details: { status: 'PENDING' } },
    });
    await db.pool.query('delete from processed_messages where message_id = $1', [accepted]);

    const refundId = `${ids.tag}-direct`;
    await stack.client.workflow.start(refundSaga, {
      taskQueue: stack.taskQueue,
      workflowId: refundWorkflowIdFor(refundId),
      args: [{ refundId, orderId: ids.message, amountCents: 100 }],
    });
    const ended = await refundResult(refundId);
    expect(ended.state).toBe('REJECTED');
    expect(ended.reason).toMatch(/only a confirmed order can be refunded/);
    await keep('refund-rejected', refundId);
    expect((await get(`/orders/${ids.message}/refunds/${refundId}`)).json()).toMatchObject({ status: 'REJECTED' });
    expect(await balanceOf(db.pool, ids.account)).toBe(10);
  });

  it('PostgreSQL unreachable: 503 DatabaseUnavailable with Retry-After, saying the refund may be stored and how to find out', async () => {
    const closed = new URL(db.url);
    closed.port = String(await freePort());
    const cut = await buildApp(
      loadConfig({ DATABASE_URL: closed.toString(), TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_TASK_QUEUE: stack.taskQueue, LOG_LEVEL: 'silent' }),
      { logger: false },
    );
    try {
      const answer = await cut.inject({ method: 'POST', url: '/orders/o-1/refunds', payload: { refundId: 'r-cut', amountCents: 100 } });
      expect({ code: answer.statusCode, retryAfter: answer.headers['retry-after'] }).toEqual({ code: 503, retryAfter: '5' });
      expect(answer.json()).toEqual({
        error: 'DatabaseUnavailable',
        message: expect.stringMatching(/may have been stored; retry with the same refundId/) as string,
      });
    } finally {
      await cut.close();
    }
  });

  it('bad input is a 400 that stores and starts nothing', async () => {
    const order = await confirmedOrder('bad');
    const url = `/orders/${order.orderId}/refunds`;
    const cases: [string, unknown, Record<string, string>?][] = [
      ['zero', { refundId: `${order.tag}-a`, amountCents: 0 }],
      ['negative', { refundId: `${order.tag}-b`, amountCents: -5 }],
      ['fraction', { refundId: `${order.tag}-c`, amountCents: 1.5 }],
      ['string', { refundId: `${order.tag}-d`, amountCents: '100' }],
      ['huge', { refundId: `${order.tag}-e`, amountCents: 2 ** 53 }],
      ['control characters', { refundId: `${order.tag}-f`, amountCents: 1, reason: 'a\u0000b' }],
      ['bidi override', { refundId: `${order.tag}-k`, amountCents: 1, reason: 'refund \u202eevil' }],
      ['noncharacter', { refundId: `${order.tag}-l`, amountCents: 1, reason: 'x\uffffy' }],
      ['long reason', { refundId: `${order.tag}-g`, amountCents: 1, reason: 'x'.repeat(501) }],
      ['unknown field', { refundId: `${order.tag}-h`, amountCents: 1, currency: 'EUR' }],
      ['bad id', { refundId: 'a/b', amountCents: 1 }],
      ['no id', { amountCents: 1 }],
      ['ids differ', { refundId: `${order.tag}-i`, amountCents: 1 }, { 'idempotency-key': `${order.tag}-j` }],
    ];
    for (const [name, body, headers] of cases) {
      const answer = await post(url, body, headers);
      expect({ name, status: answer.statusCode }).toEqual({ name, status: 400 });
    }
    const { rows } = await db.pool.query('select id from refunds where order_id = $1', [order.orderId]);
    expect(rows).toEqual([]);
    expect((await get(`/orders/${order.orderId}`)).json()).toMatchObject({ refundedCents: 0, refunds: [] });
  });

  /** Makes inserting the given saga step of a refund wait `sleepSeconds`, then fail with SQLSTATE 22023 if `fail`. */
  async function injectStepFault(refundId: string, step: string, { sleepSeconds, fail }: { sleepSeconds: number; fail: boolean }) {
    const name = `fault_${randomUUID().replaceAll('-', '')}`;
    const raise = fail ? `raise exception 'injected fault' using errcode = '22023';` : '';
    await db.pool.query(`create function ${name}() returns trigger language plpgsql as $$
      begin if new.order_id = 'refund/${refundId}' and new.step = '${step}' and new.state = 'applied' then perform pg_sleep(${sleepSeconds}); ${raise} end if; return new; end $$`);
    await db.pool.query(`create trigger ${name} before insert on saga_steps for each row execute function ${name}()`);
    return async () => {
      await db.pool.query(`drop trigger if exists ${name} on saga_steps`);
      await db.pool.query(`drop function if exists ${name}()`);
    };
  }

  const stepState = async (refundId: string, step: string) =>
    (await db.pool.query<{ state: string }>('select state from saga_steps where order_id = $1 and step = $2', [`refund/${refundId}`, step])).rows[0]?.state;
  const statusOf = (refundId: string) => stack.client.workflow.getHandle(refundWorkflowIdFor(refundId)).query(refundStatusQuery);

  async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('a refund that compensates while another refunds the rest: the order is refunded, restocked and its cashback taken back exactly once', async () => {
    // 300 cents, 3 of cashback; half a refund fails at its restock while the other half goes through.
    const order = await confirmedOrder('interleave', { quantity: 2, unitPriceCents: 150 });
    const [a, b, c] = [`${order.tag}-a`, `${order.tag}-b`, `${order.tag}-c`] as const;
    const heal = await injectStepFault(a, 'restock', { sleepSeconds: 1, fail: true });
    try {
      expect((await post(`/orders/${order.orderId}/refunds`, { refundId: a, amountCents: 150 })).statusCode).toBe(202);
      await until('a credited', async () => (await stepState(a, 'credit')) === 'applied');
      expect((await post(`/orders/${order.orderId}/refunds`, { refundId: b, amountCents: 150 })).statusCode).toBe(202);
      expect(await refundResult(a)).toMatchObject({ state: 'REJECTED', compensationsDone: [{ step: 'restock' }, { step: 'credit', outcome: 'compensated' }] });
      expect(await refundResult(b)).toMatchObject({ state: 'REFUNDED' });
    } finally {
      await heal();
    }
    expect((await post(`/orders/${order.orderId}/refunds`, { refundId: c, amountCents: 150 })).statusCode).toBe(202);
    expect(await refundResult(c)).toMatchObject({ state: 'REFUNDED' });
    expect((await post(`/orders/${order.orderId}/refunds`, { refundId: `${order.tag}-d`, amountCents: 1 })).json()).toMatchObject({
      error: 'RefundExceedsPaid',
    });
    expect(await availableOf(db.pool, order.sku)).toBe(10);
    expect(await balanceOf(db.pool, order.account)).toBe(order.opening);
    const { rows } = await db.pool.query('select refunded_cents, reward_taken_back_cents from orders where id = $1', [order.orderId]);
    expect(rows).toEqual([{ refunded_cents: 300, reward_taken_back_cents: 3 }]);
  });

  it('a credit held up past every attempt by a locked account retries until it applies: the refund ends REFUNDED, never REJECTED', async () => {
    const order = await confirmedOrder('stalled', { quantity: 1, unitPriceCents: 1_000 });
    const refundId = `${order.tag}-r`;
    // A worker whose statements give up on a lock after a second: an order step would have exhausted its
    // attempts and its one check-back (answering not-applied) long before the lock goes.
    const queue = `${stack.taskQueue}-impatient`;
    const impatient = createPool({ connectionString: db.url, max: 10, queryTimeoutMs: 1_000 });
    const worker = await stack.startWorker(queue, { pool: impatient });
    const holder = await db.pool.connect();
    try {
      try {
        await holder.query('begin');
        await holder.query('select 1 from accounts where id = $1 for update', [order.account]);
        await stack.client.workflow.start(refundSaga, {
          taskQueue: queue,
          workflowId: refundWorkflowIdFor(refundId),
          args: [{ refundId, orderId: order.orderId, amountCents: 400, maxCheckBacks: 1, checkBackIntervalMs: 500 }],
        });
        await new Promise((r) => setTimeout(r, 17_000));
        expect(await statusOf(refundId)).toMatchObject({ state: 'RUNNING', currentStep: 'credit', compensationsDone: [] });
        expect(await stepState(refundId, 'credit')).toBeUndefined();
      } finally {
        await holder.query('rollback');
        holder.release();
      }
      expect(await refundResult(refundId)).toMatchObject({ state: 'REFUNDED', stepsApplied: ['credit', 'restock'], compensationsDone: [] });
    } finally {
      await worker.stop();
      await impatient.end();
    }
    expect((await ledgerOf(db.pool, order.account)).filter((e) => e.kind === 'refund').map((e) => e.amount_cents)).toEqual([400]);
    expect((await get(`/orders/${order.orderId}/refunds/${refundId}`)).json()).toMatchObject({ status: 'REFUNDED' });
  }, 90_000);

  it('a credit the customer has spent since: its reversal waits, COMPENSATING, until the money is there, then the refund ends REJECTED', async () => {
    const order = await confirmedOrder('spent', { quantity: 1, unitPriceCents: 300, opening: 300 });
    const refundId = `${order.tag}-r`;
    // Another SKU: the hanging restock holds the refunded order's inventory row.
    const elsewhere = `${order.sku}-elsewhere`;
    await seed(db.pool, { skus: [[elsewhere, 10]] });
    const heal = await injectStepFault(refundId, 'restock', { sleepSeconds: 4, fail: true });
    try {
      expect((await post(`/orders/${order.orderId}/refunds`, { refundId, amountCents: 300 })).statusCode).toBe(202);
      await until('the credit applied', async () => (await stepState(refundId, 'credit')) === 'applied');
      // 3 of cashback, +300, −3: the customer spends 299 of it on another order while the restock hangs.
      const other = `${order.orderId}-2`;
      expect(
        (await post('/orders', { messageId: other, customerId: order.account, items: [{ sku: elsewhere, quantity: 1, unitPriceCents: 299 }] })).statusCode,
      ).toBe(202);
      expect(await stack.result(other)).toMatchObject({ state: 'CONFIRMED' });
      await until('the reversal waiting for funds', async () => (await statusOf(refundId)).state === 'COMPENSATING', 60_000);
    } finally {
      await heal();
    }
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await statusOf(refundId)).state).toBe('COMPENSATING');
    expect((await get(`/orders/${order.orderId}/refunds/${refundId}`)).json()).toMatchObject({ status: 'PENDING' });
    const topUp = await post(`/accounts/${order.account}/credits`, { amountCents: 1_000 }, { 'idempotency-key': `${order.tag}-topup` });
    expect(topUp.statusCode).toBe(201);
    const ended = await refundResult(refundId);
    expect(ended).toMatchObject({ state: 'REJECTED', compensationsDone: [{ step: 'restock' }, { step: 'credit', outcome: 'compensated' }] });
    expect((await get(`/orders/${order.orderId}/refunds/${refundId}`)).json()).toMatchObject({ status: 'REJECTED' });
  });

  it('a stored refund whose start never came back holds no share of the cap past its lease; retried, it starts (202) and the database decides', async () => {
    const order = await confirmedOrder('stale');
    const stale = `${order.tag}-stale`;
    // As a 503 leaves it: stored, never acknowledged by Temporal, a minute ago.
    await db.pool.query(`insert into refunds (id, order_id, amount_cents, fingerprint, created_at) values ($1, $2, $3, $4, now() - interval '1 minute')`, [
      stale,
      order.orderId,
      order.totalCents,
      refundFingerprint({ orderId: order.orderId, amountCents: order.totalCents }),
    ]);
    const full = await post(`/orders/${order.orderId}/refunds`, { refundId: `${order.tag}-full`, amountCents: order.totalCents });
    expect(full.statusCode).toBe(202);
    expect(await refundResult(`${order.tag}-full`)).toMatchObject({ state: 'REFUNDED' });
    const retried = await post(`/orders/${order.orderId}/refunds`, { refundId: stale, amountCents: order.totalCents });
    expect(retried.statusCode).toBe(202);
    expect(retried.json()).toMatchObject({ duplicate: false });
    expect(await refundResult(stale)).toMatchObject({ state: 'REJECTED', reason: expect.stringContaining('would pass what was paid') as unknown });
    expect(await balanceOf(db.pool, order.account)).toBe(order.opening);
  });

  it('the sweep starts a stored refund whose start never came back, once, even with two sweeps at once; one within its lease, or started, is left alone', async () => {
    const order = await confirmedOrder('sweep');
    const stored = (refundId: string, amountCents: number, age: string) =>
      db.pool.query(`insert into refunds (id, order_id, amount_cents, reason, fingerprint, created_at) values ($1, $2, $3, $4, $5, now() - $6::interval)`, [
        refundId,
        order.orderId,
        amountCents,
        'damaged',
        refundFingerprint({ orderId: order.orderId, amountCents, reason: 'damaged' }),
        age,
      ]);
    const [old, young] = [`${order.tag}-old`, `${order.tag}-young`];
    await stored(old, 1_000, '1 minute');
    await stored(young, 2_000, '1 second');
    const sweep = () => restartUnstartedRefunds({ client: stack.client, pool: db.pool, taskQueue: stack.taskQueue });
    const [a, b] = await Promise.all([sweep(), sweep()]);
    expect([...a.started, ...b.started]).toEqual([old]);
    expect([a.error, b.error]).toEqual([undefined, undefined]);
    expect(await refundResult(old)).toMatchObject({ state: 'REFUNDED' });
    const row = (await get(`/orders/${order.orderId}/refunds/${old}`)).json<{ status: string; reason: string }>();
    expect(row).toMatchObject({ status: 'REFUNDED', reason: 'damaged' });
    expect((await sweep()).started).toEqual([]);
    const credits = (await ledgerOf(db.pool, order.account)).filter((l) => l.kind === 'refund');
    expect(credits.map((c) => c.amount_cents)).toEqual([1_000]);
    // Its client's retry now finds it started: the same refund, a duplicate.
    const retried = await post(`/orders/${order.orderId}/refunds`, { refundId: old, amountCents: 1_000, reason: 'damaged' });
    expect(retried.json()).toMatchObject({ duplicate: true, status: 'REFUNDED' });
    await db.pool.query('delete from refunds where id = $1', [young]);
  });

  it('an empty reason is no reason; a build before refunds still writes its order events (on conflict (order_id)) on this schema', async () => {
    const order = await confirmedOrder('reason');
    const refundId = `${order.tag}-r`;
    expect((await post(`/orders/${order.orderId}/refunds`, { refundId, amountCents: 10, reason: '' })).statusCode).toBe(202);
    expect((await post(`/orders/${order.orderId}/refunds`, { refundId, amountCents: 10 })).statusCode).toBe(200);
    await refundResult(refundId);
    expect((await get(`/orders/${order.orderId}/refunds/${refundId}`)).json()).toMatchObject({ reason: null });
    const earlierBuild = `insert into outbox (event_id, order_id, topic, key, event_type, payload) values ($1, $2, 'orders.events', $2, 'order.confirmed', '{}')
      on conflict (order_id) do nothing`;
    const { rowCount } = await db.pool.query(earlierBuild, [randomUUID(), order.orderId]);
    expect(rowCount).toBe(0);
  });
});
