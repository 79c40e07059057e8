import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app';
import { loadConfig } from '../config';
import { cancelSignal, NeedsReviewKey, statusQuery, type OrderSagaStatus } from '../contract/saga';
import { selectOrder } from '../db/orders';
import { workflowIdFor } from '../domain/order';
import { startOrder } from '../intake/start-order';
import { orderSaga } from '../workflows/order-saga';
import { json, saga } from './helpers/cli';
import { assertInvariants } from './helpers/invariants';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { availableOf, balanceOf, seed, uniqueIds } from './helpers/seed';

const API_KEY = 'operator-test-key-0123456789';

/** Review, resolve and check-back-now: the API and the CLI against a real Temporal dev server, PostgreSQL and worker. */
describe('operators resolve flagged orders and ask a step in doubt to check back now', () => {
  let stack: RealStack;
  let app: FastifyInstance;
  let env: Record<string, string>;

  beforeAll(async () => {
    stack = await startRealStack();
    env = { DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_TASK_QUEUE: stack.taskQueue, LOG_LEVEL: 'silent' };
    app = await buildApp(loadConfig({ ...env, API_KEY }), { logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  });
  afterEach(async () => assertInvariants(stack.db.pool, { allowPending: true }));

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, key: string | null = API_KEY) =>
    app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }), headers: key ? { authorization: `Bearer ${key}` } : {} });
  const handleOf = (orderId: string) => stack.client.workflow.getHandle<typeof orderSaga>(workflowIdFor(orderId));

  async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = await probe().catch(() => undefined);
      if (value) return value;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
  }
  const sagaStatus = (orderId: string) => handleOf(orderId).query(statusQuery);

  /** A manual order cancelled with a reason PostgreSQL refuses, sent past the API straight to Temporal: compensated and flagged. */
  async function flaggedOrder(tag: string): Promise<{ orderId: string; account: string; sku: string }> {
    const ids = uniqueIds(tag);
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    const deps = { client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue };
    await startOrder(
      deps,
      { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 2, unitPriceCents: 1_999 }], confirmation: 'manual' },
      'rest',
    );
    await until('the order to await its decision', async () => (await sagaStatus(ids.message)).state === 'AWAITING_CONFIRMATION');
    await handleOf(ids.message).signal(cancelSignal, { reason: 'x\u0000' });
    await until('the saga to wait for review', async () => (await sagaStatus(ids.message)).currentStep === 'review');
    return { orderId: ids.message, account: ids.account, sku: ids.sku };
  }

  /**
   * An order whose reserve is in doubt, waiting an hour for its next check-back: the step table is gone, so the
   * reserve cannot record itself and no check-back can read it. `whileGone` runs before the table is back.
   */
  async function reserveInDoubt(ids: ReturnType<typeof uniqueIds>, whileGone?: (paused: OrderSagaStatus) => Promise<void>): Promise<void> {
    await stack.db.pool.query('alter table saga_steps rename to saga_steps_away');
    try {
      await stack.client.workflow.start(orderSaga, {
        taskQueue: stack.taskQueue,
        workflowId: workflowIdFor(ids.message),
        args: [
          {
            messageId: ids.message,
            customerId: ids.account,
            items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }],
            maxCheckBacks: 5,
            checkBackInterval: '1 hour',
          },
        ],
      });
      const paused = await until('the reserve to wait for its next check-back', async () => {
        const status = await sagaStatus(ids.message);
        return status.nextCheckBackAt ? status : undefined;
      });
      await whileGone?.(paused);
    } finally {
      await stack.db.pool.query('alter table saga_steps_away rename to saga_steps');
    }
  }

  it('the API: the review queue, a resolution stored once and never edited, the flag cleared in PostgreSQL and in the search attribute', async () => {
    const { orderId, account, sku } = await flaggedOrder('api-review');
    expect(await balanceOf(stack.db.pool, account)).toBe(10_000);
    expect(await availableOf(stack.db.pool, sku)).toBe(5);
    expect((await handleOf(orderId).describe()).typedSearchAttributes.get(NeedsReviewKey)).toBe(true);

    const queue = await call('GET', '/reviews');
    expect(queue.statusCode).toBe(200);
    const listed = queue.json<{ orders: { orderId: string; status: string; reviewReason: string }[] }>().orders.find((o) => o.orderId === orderId);
    expect(listed).toMatchObject({ status: 'CANCELLED', reviewReason: expect.stringMatching(/^data error while cancelling/) as string });
    expect((await call('GET', '/reviews?limit=0')).statusCode).toBe(400);

    const url = `/orders/${orderId}/resolution`;
    for (const bad of [
      {},
      { resolvedBy: 'ops-anna' },
      { resolvedBy: 'ops-anna', note: '' },
      { resolvedBy: 'ops anna', note: 'ok' },
      { resolvedBy: 'ops-anna', note: 'bad\u0000' },
      { resolvedBy: 'ops-anna', note: 'n'.repeat(501) },
      { resolvedBy: 'ops-anna', note: 'ok', resolvedAt: '2000-01-01T00:00:00Z' },
    ]) {
      const refused = await call('POST', url, bad);
      expect(refused.statusCode, JSON.stringify(bad)).toBe(400);
      expect(refused.json()).toMatchObject({ error: 'ValidationError' });
    }
    expect((await selectOrder(stack.db.pool, orderId))?.needs_review).toBe(true);

    const body = { resolvedBy: 'ops-anna', note: 'reason had a NUL byte from a test client; stock and balance checked: all returned' };
    const resolved = await call('POST', url, body);
    expect(resolved.statusCode).toBe(201);
    const answer = resolved.json<{ resolvedAt: string }>();
    expect(answer).toMatchObject({ orderId, ...body, created: true, saga: 'released', reviewReason: expect.stringMatching(/^data error/) as string });

    // The saga was released: it clears NeedsReview and completes, CANCELLED as before.
    const result = await handleOf(orderId).result();
    expect(result).toMatchObject({ state: 'CANCELLED', needsReview: false, resolution: { ...body, resolvedAt: answer.resolvedAt } });
    const described = await handleOf(orderId).describe();
    expect(described.status.name).toBe('COMPLETED');
    expect(described.typedSearchAttributes.get(NeedsReviewKey)).toBe(false);
    expect(await selectOrder(stack.db.pool, orderId)).toMatchObject({ status: 'CANCELLED', needs_review: false });

    const order = await call('GET', `/orders/${orderId}`);
    expect(order.json()).toMatchObject({ needsReview: false, resolution: { ...body, resolvedAt: answer.resolvedAt } });
    expect((await call('GET', '/reviews')).json<{ orders: { orderId: string }[] }>().orders.map((o) => o.orderId)).not.toContain(orderId);

    // The same resolution again is the stored one; another is refused and changes nothing.
    const again = await call('POST', url, body);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ created: false, resolvedAt: answer.resolvedAt, saga: 'released' });
    const other = await call('POST', url, { resolvedBy: 'ops-bob', note: 'something else' });
    expect(other.statusCode).toBe(409);
    expect(other.json()).toMatchObject({ error: 'AlreadyResolved', details: { resolution: { resolvedBy: 'ops-anna' } } });
    await expect(stack.db.pool.query("update order_resolutions set note = 'edited' where order_id = $1", [orderId])).rejects.toMatchObject({ code: 'P0001' });
    await expect(stack.db.pool.query('delete from order_resolutions where order_id = $1', [orderId])).rejects.toMatchObject({ code: 'P0001' });
    expect((await stack.db.pool.query('select note from order_resolutions where order_id = $1', [orderId])).rows).toEqual([{ note: body.note }]);
  });

  it('the API refuses to resolve an order that is not flagged, an unknown one, and every operator route without the key', async () => {
    const ids = uniqueIds('api-unflagged');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    await startOrder(
      { client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue },
      { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] },
      'rest',
    );
    await handleOf(ids.message).result();
    const body = { resolvedBy: 'ops-anna', note: 'looks fine' };
    const notFlagged = await call('POST', `/orders/${ids.message}/resolution`, body);
    expect(notFlagged.statusCode).toBe(409);
    expect(notFlagged.json()).toMatchObject({ error: 'NotFlagged', details: { status: 'CONFIRMED', needsReview: false } });
    expect((await stack.db.pool.query('select 1 from order_resolutions where order_id = $1', [ids.message])).rowCount).toBe(0);
    expect((await call('POST', '/orders/no-such-order/resolution', body)).json()).toMatchObject({ error: 'OrderNotFound' });
    expect((await call('POST', `/orders/${ids.message}/check-back`)).json()).toMatchObject({ error: 'NotCheckingBack' });
    expect((await call('POST', '/orders/no-such-order/check-back')).statusCode).toBe(404);

    for (const [method, url] of [
      ['GET', '/reviews'],
      ['POST', `/orders/${ids.message}/resolution`],
      ['POST', `/orders/${ids.message}/check-back`],
    ] as const) {
      expect((await call(method, url, method === 'POST' ? body : undefined, 'wrong-key-of-the-same-len')).statusCode).toBe(401);
    }
    const open = await buildApp(loadConfig(env), { logger: false });
    try {
      for (const [method, url] of [
        ['GET', '/reviews'],
        ['POST', `/orders/${ids.message}/resolution`],
        ['POST', `/orders/${ids.message}/check-back`],
      ] as const) {
        const refused = await open.inject({ method, url, ...(method === 'POST' ? { payload: body } : {}) });
        expect(refused.statusCode).toBe(403);
        expect(refused.json()).toMatchObject({ error: 'OperatorKeyRequired' });
      }
    } finally {
      await open.close();
    }
  });

  it('a flagged order whose workflow has already ended (a saga from before S11) is resolved in PostgreSQL and says so', async () => {
    const { orderId } = await flaggedOrder('api-closed');
    await handleOf(orderId).terminate('ended by hand, as a pre-S11 saga would have completed flagged');
    const resolved = await call('POST', `/orders/${orderId}/resolution`, { resolvedBy: 'ops-anna', note: 'old saga' });
    expect(resolved.statusCode).toBe(201);
    expect(resolved.json()).toMatchObject({ created: true, saga: 'closed' });
    expect(await selectOrder(stack.db.pool, orderId)).toMatchObject({ needs_review: false });
  });

  it('check back now: a step in doubt waits an hour between check-backs, and an operator who fixed the database need not', async () => {
    const ids = uniqueIds('check-now');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    await reserveInDoubt(ids, async (paused) => {
      expect(paused).toMatchObject({ currentStep: 'reserve', checkBacksUsed: 1 });
      expect(Date.parse(paused.nextCheckBackAt!) - Date.now()).toBeGreaterThan(50 * 60_000);

      const still = await call('POST', `/orders/${ids.message}/check-back`);
      expect(still.statusCode).toBe(200);
      expect(still.json()).toEqual({ orderId: ids.message, step: 'reserve', state: 'unknown', checkBacksUsed: 2 });
      await until('the next wait', async () => Boolean((await sagaStatus(ids.message)).nextCheckBackAt));
    });
    // The CLI asks, as an operator would after the fix.
    const run = await saga(['check-back', ids.message, '--json'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(json(run)).toEqual({ orderId: ids.message, step: 'reserve', state: 'not-applied', checkBacksUsed: 3 });
    const result: OrderSagaStatus = await handleOf(ids.message).result();
    expect(result).toMatchObject({
      state: 'CANCELLED',
      checkBacksUsed: 3,
      needsReview: false,
      reason: expect.stringMatching(/^reserve did not apply/) as string,
    });
    expect(await availableOf(stack.db.pool, ids.sku)).toBe(5);
    expect(await balanceOf(stack.db.pool, ids.account)).toBe(10_000);
    const late = await saga(['check-back', ids.message], env);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^error: NotCheckingBack: order .* has ended \(CANCELLED\)/);
  });

  it('a check-back held up by a lock answers 202 checking within the API deadline, to every operator who asks, and the saga goes on', async () => {
    const ids = uniqueIds('check-slow');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    await reserveInDoubt(ids);
    // A session holds the step table: the check-back's read waits on it (found by the attack: the API timed out with 503).
    const locker = await stack.db.pool.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table saga_steps in access exclusive mode');
      const asked = await Promise.all([1, 2, 3].map(() => call('POST', `/orders/${ids.message}/check-back`)));
      for (const answer of asked) {
        expect(answer.statusCode, answer.body).toBe(202);
        expect(answer.json()).toEqual({ orderId: ids.message, state: 'checking' });
      }
    } finally {
      await locker.query('rollback');
      locker.release();
    }
    const result: OrderSagaStatus = await handleOf(ids.message).result();
    expect(result).toMatchObject({ state: 'CANCELLED', checkBacksUsed: 2, reason: expect.stringMatching(/^reserve did not apply/) as string });
    expect(await availableOf(stack.db.pool, ids.sku)).toBe(5);
  });

  it('the CLI: review lists why, resolve records who and what, every refusal has its exit code', async () => {
    const { orderId } = await flaggedOrder('cli-review');
    const review = await saga(['review'], env);
    expect(review.code).toBe(0);
    expect(review.stdout).toMatch(new RegExp(`${orderId}\\s+CANCELLED\\s+.*data error while cancelling`));
    expect(json<{ orders: { orderId: string }[] }>(await saga(['review', '--json'], env)).orders.map((o) => o.orderId)).toContain(orderId);

    for (const args of [
      ['resolve', orderId],
      ['resolve', orderId, '--note', ''],
      ['resolve', orderId, '--note', 'ok', '--by', 'two words'],
      ['resolve', orderId, '--note', 'bad\u0007'],
      ['review', '--limit', '0'],
    ]) {
      const refused = await saga(args, env);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toMatch(/^error: /);
    }
    expect((await selectOrder(stack.db.pool, orderId))?.needs_review).toBe(true);

    const resolved = await saga(['resolve', orderId, '--note', 'checked: stock and balance returned', '--by', 'ops-carla'], env);
    expect(resolved.stderr).toBe('');
    expect(resolved.code).toBe(0);
    expect(resolved.stdout).toMatch(new RegExp(`^order ${orderId}: resolved by ops-carla at .*; its saga cleared NeedsReview and completed`));
    expect((await handleOf(orderId).describe()).typedSearchAttributes.get(NeedsReviewKey)).toBe(false);
    const status = await saga(['status', orderId], env);
    expect(status.stdout).toMatch(/needs review\s+no/);
    expect(status.stdout).toMatch(/resolved\s+by ops-carla at /);

    const other = await saga(['resolve', orderId, '--note', 'another note', '--by', 'ops-carla'], env);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/^error: AlreadyResolved: /);
    const unknown = await saga(['resolve', 'no-such-order', '--note', 'x'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: no order no-such-order/);
    const down = await saga(['review'], { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/orders' });
    expect(down.code).toBe(3);
  });
});
