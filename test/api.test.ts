import { createHash, randomUUID } from 'node:crypto';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app';
import { loadConfig } from '../config';
import { workflowIdFor } from '../domain/order';
import type { TestDatabase } from './helpers/database';
import { createDevServer } from './helpers/dev-server';
import { assertInvariants } from './helpers/invariants';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { balanceOf, ledgerOf, seed, uniqueIds } from './helpers/seed';

describe('REST API on real Temporal (dev server) and PostgreSQL', () => {
  let stack: RealStack;
  let db: TestDatabase;
  let temporal: RealStack['temporal'];
  let app: FastifyInstance;
  let taskQueue: string;

  beforeAll(async () => {
    stack = await startRealStack();
    ({ db, temporal, taskQueue } = stack);
    const config = loadConfig({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'silent' });
    app = await buildApp(config, { logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  });
  afterEach(async () => assertInvariants(db.pool, { allowPending: true }));

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers });

  const waitForResult = (orderId: string) => stack.result(orderId);
  const workflowExists = (orderId: string) => stack.workflowExists(orderId);

  async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`not reached within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function processedRows(messageId: string): Promise<number> {
    const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from processed_messages where message_id = $1', [messageId]);
    return rows[0]!.n;
  }

  it('100 concurrent POSTs with one message ID: one workflow, one order, one debit', async () => {
    const ids = uniqueIds('burst');
    await seed(db.pool, { account: [ids.account, 100_000], skus: [[ids.sku, 10]] });
    const body = { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 1_234 }] };
    const responses = await Promise.all(Array.from({ length: 100 }, () => post('/orders', body, { 'idempotency-key': ids.message })));
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 200)).toHaveLength(99);
    const bodies = responses.map((r) => r.json<{ workflowId: string; runId: string; duplicate: boolean }>());
    expect(new Set(bodies.map((b) => `${b.workflowId}/${b.runId}`)).size).toBe(1);
    expect(bodies.filter((b) => !b.duplicate)).toHaveLength(1);

    await waitForResult(ids.message);
    const debits = (await ledgerOf(db.pool, ids.account)).filter((e) => e.kind === 'debit');
    expect(debits).toHaveLength(1);
    expect(await balanceOf(db.pool, ids.account)).toBe(100_000 - 1_234 + 12);
    const { rows } = await db.pool.query('select id from orders where id = $1', [ids.message]);
    expect(rows).toHaveLength(1);

    // After the workflow closed, a duplicate still collapses onto the same run.
    const late = await post('/orders', { ...body, messageId: ids.message });
    expect(late.statusCode).toBe(200);
    expect(late.json()).toMatchObject({ duplicate: true, runId: bodies[0]!.runId, status: 'CONFIRMED' });
  });

  it('the same message ID with a different body is a 409 and starts nothing new', async () => {
    const ids = uniqueIds('conflict');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const first = await post('/orders', { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] });
    expect(first.statusCode).toBe(202);
    const second = await post('/orders', { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 2, unitPriceCents: 100 }] });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ error: 'MessageIdConflict' });
    await waitForResult(ids.message);
    expect((await ledgerOf(db.pool, ids.account)).filter((e) => e.kind === 'debit')).toEqual([expect.objectContaining({ amount_cents: -100 })]);
  });

  it('a copy after Temporal has forgotten the order (P2: past retention, or a new cluster) is still a duplicate; nothing starts again', async () => {
    const ids = uniqueIds('forgotten');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const body = { messageId: ids.message, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 250 }] };
    const first = await post('/orders', body);
    expect(first.statusCode).toBe(202);
    await waitForResult(ids.message);

    // A Temporal that never saw the order, in front of the same database.
    const amnesiac = await createDevServer();
    const config = loadConfig({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: amnesiac.address, TEMPORAL_TASK_QUEUE: taskQueue, LOG_LEVEL: 'silent' });
    const other = await buildApp(config, { logger: false });
    const connection = await Connection.connect({ address: amnesiac.address });
    try {
      const copy = await other.inject({ method: 'POST', url: '/orders', payload: body });
      expect(copy.statusCode).toBe(200);
      expect(copy.json()).toMatchObject({ duplicate: true, runId: first.json<{ runId: string }>().runId, status: 'CONFIRMED' });
      const changed = await other.inject({ method: 'POST', url: '/orders', payload: { ...body, items: [{ ...body.items[0], quantity: 2 }] } });
      expect(changed.statusCode).toBe(409);
      const forgotten = new Client({ connection }).workflow.getHandle(workflowIdFor(ids.message)).describe();
      await expect(forgotten).rejects.toBeInstanceOf(WorkflowNotFoundError);
    } finally {
      await connection.close();
      await other.close();
      await amnesiac.stop();
    }
    expect((await ledgerOf(db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(1);
  });

  it('an order that spells out a default, or the same window in other units, is the same order; a stored pre-v2 fingerprint still matches', async () => {
    const ids = uniqueIds('spelt');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const items = [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }];
    const manual = { messageId: ids.message, customerId: ids.account, items, confirmation: 'manual' };
    expect((await post('/orders', manual)).statusCode).toBe(202);
    for (const same of [{ confirmWithin: '10 minutes' }, { confirmWithin: '600 seconds' }]) {
      const copy = await post('/orders', { ...manual, ...same });
      expect({ same, status: copy.statusCode, duplicate: copy.json<{ duplicate: boolean }>().duplicate }).toEqual({ same, status: 200, duplicate: true });
    }
    expect((await post('/orders', { ...manual, confirmWithin: '11 minutes' })).statusCode).toBe(409);

    const auto = { messageId: `${ids.message}-auto`, customerId: ids.account, items };
    expect((await post('/orders', auto)).statusCode).toBe(202);
    for (const same of [{ confirmation: 'auto' }, { confirmWithin: '2 hours' }]) {
      expect((await post('/orders', { ...auto, ...same })).statusCode).toBe(200);
    }
    await waitForResult(auto.messageId);

    // A row written before fingerprints were versioned: the hash of the fields as sent.
    const legacy = createHash('sha256')
      .update(JSON.stringify({ customerId: ids.account, items: [[ids.sku, 1, 100]], confirmation: 'manual', confirmWithin: null }))
      .digest('hex');
    await db.pool.query('update processed_messages set fingerprint = $2 where message_id = $1', [ids.message, legacy]);
    expect((await post('/orders', manual)).statusCode).toBe(200);
    expect((await post('/orders', { ...manual, items: [{ ...items[0], quantity: 2 }] })).statusCode).toBe(409);
    expect((await post(`/orders/${ids.message}/cancel`, {})).statusCode).toBe(200);
    expect((await ledgerOf(db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(2);
  });

  const validItem = { sku: 'sku-1', quantity: 1, unitPriceCents: 100 };
  const badInputs: { name: string; payload?: unknown; raw?: string; headers?: Record<string, string>; status: number; error: string }[] = [
    { name: 'malformed JSON', raw: '{"customerId": "a", "items": [', status: 400, error: 'MalformedJson' },
    { name: 'empty body', raw: '', status: 400, error: 'MalformedJson' },
    { name: 'non-JSON content type', raw: 'customerId=a', headers: { 'content-type': 'text/plain' }, status: 415, error: 'UnsupportedContentType' },
    {
      name: 'missing message ID',
      payload: { customerId: 'a', items: [validItem] },
      headers: { 'idempotency-key': '' },
      status: 400,
      error: 'MissingMessageId',
    },
    {
      name: 'header and body IDs differ',
      payload: { messageId: 'x-1', customerId: 'a', items: [validItem] },
      headers: { 'idempotency-key': 'x-2' },
      status: 400,
      error: 'MessageIdMismatch',
    },
    { name: 'missing customerId', payload: { items: [validItem] }, status: 400, error: 'ValidationError' },
    { name: 'customerId of the wrong type', payload: { customerId: 42, items: [validItem] }, status: 400, error: 'ValidationError' },
    { name: 'items not an array', payload: { customerId: 'a', items: 'lots' }, status: 400, error: 'ValidationError' },
    { name: 'empty item list', payload: { customerId: 'a', items: [] }, status: 400, error: 'ValidationError' },
    { name: 'more than 100 items', payload: { customerId: 'a', items: Array(101).fill(validItem) }, status: 400, error: 'ValidationError' },
    { name: 'negative price', payload: { customerId: 'a', items: [{ ...validItem, unitPriceCents: -1 }] }, status: 400, error: 'ValidationError' },
    { name: 'fractional price', payload: { customerId: 'a', items: [{ ...validItem, unitPriceCents: 9.99 }] }, status: 400, error: 'ValidationError' },
    { name: 'price as a string', payload: { customerId: 'a', items: [{ ...validItem, unitPriceCents: '100' }] }, status: 400, error: 'ValidationError' },
    { name: 'zero quantity', payload: { customerId: 'a', items: [{ ...validItem, quantity: 0 }] }, status: 400, error: 'ValidationError' },
    { name: 'fractional quantity', payload: { customerId: 'a', items: [{ ...validItem, quantity: 1.5 }] }, status: 400, error: 'ValidationError' },
    { name: 'unknown top-level field', payload: { customerId: 'a', items: [validItem], coupon: 'FREE' }, status: 400, error: 'ValidationError' },
    { name: 'unknown item field', payload: { customerId: 'a', items: [{ ...validItem, discount: 5 }] }, status: 400, error: 'ValidationError' },
    { name: 'bad confirmation mode', payload: { customerId: 'a', items: [validItem], confirmation: 'maybe' }, status: 400, error: 'ValidationError' },
    { name: 'bad confirmWithin', payload: { customerId: 'a', items: [validItem], confirmWithin: 'soon' }, status: 400, error: 'ValidationError' },
    {
      name: 'message ID with spaces',
      payload: { customerId: 'a', items: [validItem] },
      headers: { 'idempotency-key': 'has space' },
      status: 400,
      error: 'ValidationError',
    },
    { name: 'body over 1 MiB', payload: { customerId: 'a', items: [validItem], pad: 'x'.repeat(1_100_000) }, status: 413, error: 'PayloadTooLarge' },
    { name: 'JSON array body', payload: [1, 2], status: 400, error: 'ValidationError' },
  ];

  it.each(badInputs)('bad input: $name → $status, nothing started or written', async ({ payload, raw, headers, status, error }) => {
    const messageId = `bad-${randomUUID()}`;
    const response = await app.inject({
      method: 'POST',
      url: '/orders',
      headers: Object.fromEntries(Object.entries({ 'content-type': 'application/json', 'idempotency-key': messageId, ...headers }).filter(([, v]) => v !== '')),
      payload: raw ?? JSON.stringify(payload),
    });
    expect(response.statusCode).toBe(status);
    const body = response.json<{ error: string; message: string; details?: { path: string }[] }>();
    expect(body.error).toBe(error);
    expect(typeof body.message).toBe('string');
    if (error === 'ValidationError') expect(body.details?.length).toBeGreaterThan(0);
    const usedId = headers?.['idempotency-key'] || messageId;
    expect(await processedRows(usedId)).toBe(0);
    expect(await workflowExists(usedId)).toBe(false);
  });

  it('validation errors carry the zod path', async () => {
    const response = await post(
      '/orders',
      { customerId: 'a', items: [validItem, { ...validItem, unitPriceCents: 1.5 }] },
      { 'idempotency-key': `p-${randomUUID()}` },
    );
    expect(response.json()).toMatchObject({ details: [expect.objectContaining({ in: 'body', path: '/items/1/unitPriceCents' })] });
  });

  it('GET /orders/:id answers from the workflow while it runs and from the database once closed; 404 when unknown', async () => {
    const ids = uniqueIds('get');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    expect(
      (
        await post(
          '/orders',
          { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 500 }], confirmation: 'manual' },
          { 'idempotency-key': ids.message },
        )
      ).statusCode,
    ).toBe(202);
    let running;
    for (let i = 0; i < 100; i++) {
      running = (await app.inject({ method: 'GET', url: `/orders/${ids.message}` })).json<{ source: string; saga?: { state: string } }>();
      if (running.saga?.state === 'AWAITING_CONFIRMATION') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(running).toMatchObject({ source: 'workflow', status: 'PENDING', saga: { state: 'AWAITING_CONFIRMATION', stepsApplied: ['reserve', 'debit'] } });

    const confirmed = await post(`/orders/${ids.message}/confirm`, {});
    expect({ code: confirmed.statusCode, body: confirmed.json<unknown>() }).toEqual({
      code: 200,
      body: { orderId: ids.message, decision: 'confirm', status: 'CONFIRMED' },
    });
    // The same decision again, once the saga has closed: the same answer, from the database.
    const again = await post(`/orders/${ids.message}/confirm`, {});
    expect({ code: again.statusCode, body: again.json<unknown>() }).toEqual({ code: 200, body: confirmed.json<unknown>() });
    const closed = await app.inject({ method: 'GET', url: `/orders/${ids.message}` });
    expect(closed.json()).toMatchObject({ source: 'database', status: 'CONFIRMED', totalCents: 500 });
    const cancelTooLate = await post(`/orders/${ids.message}/cancel`, {});
    expect(cancelTooLate.statusCode).toBe(409);
    expect(cancelTooLate.json()).toMatchObject({ error: 'OrderClosed', details: { status: 'CONFIRMED' } });
    expect((await app.inject({ method: 'GET', url: `/orders/never-${ids.tag}` })).statusCode).toBe(404);
    expect((await post(`/orders/never-${ids.tag}/confirm`, {})).statusCode).toBe(404);
  });

  it('cancel during the window answers once refunded; a later confirm is a 409; an auto order takes no decision', async () => {
    const ids = uniqueIds('cancel');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    await post(
      '/orders',
      { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 700 }], confirmation: 'manual' },
      { 'idempotency-key': ids.message },
    );
    const cancelled = await post(`/orders/${ids.message}/cancel`, { reason: 'changed my mind' });
    expect({ code: cancelled.statusCode, body: cancelled.json<unknown>() }).toEqual({
      code: 200,
      body: { orderId: ids.message, decision: 'cancel', status: 'CANCELLED', reason: 'cancelled: changed my mind' },
    });
    expect(await balanceOf(db.pool, ids.account)).toBe(10_000);
    expect((await post(`/orders/${ids.message}/confirm`, {})).statusCode).toBe(409);
    await waitForResult(ids.message);

    // An auto order: refused while its saga runs (the validator) and after it closed (the database); nothing changes.
    const auto = uniqueIds('cancel-auto');
    await seed(db.pool, { account: [auto.account, 10_000], skus: [[auto.sku, 10]] });
    await post('/orders', { customerId: auto.account, items: [{ sku: auto.sku, quantity: 1, unitPriceCents: 700 }] }, { 'idempotency-key': auto.message });
    const refused = await post(`/orders/${auto.message}/cancel`, {});
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ error: 'NotAwaitingDecision' });
    await waitForResult(auto.message);
    const refusedClosed = await post(`/orders/${auto.message}/confirm`, {});
    expect({ code: refusedClosed.statusCode, error: refusedClosed.json<{ error: string }>().error }).toEqual({ code: 409, error: 'NotAwaitingDecision' });
    expect((await app.inject({ method: 'GET', url: `/orders/${auto.message}` })).json()).toMatchObject({ status: 'CONFIRMED' });
    expect((await app.inject({ method: 'GET', url: `/orders/${ids.message}` })).json()).toMatchObject({ status: 'CANCELLED' });
    expect(await balanceOf(db.pool, ids.account)).toBe(10_000);
  });

  it('accounts and inventory: idempotent creation, idempotent top-ups, 404s', async () => {
    const id = `acct-${randomUUID().slice(0, 8)}`;
    expect((await post('/accounts', { accountId: id, openingBalanceCents: 5_000 })).statusCode).toBe(201);
    expect((await post('/accounts', { accountId: id, openingBalanceCents: 5_000 })).statusCode).toBe(200);
    expect((await post('/accounts', { accountId: id, openingBalanceCents: 1 })).statusCode).toBe(409);
    expect((await post('/accounts', { accountId: id, openingBalanceCents: 10.5 })).statusCode).toBe(400);
    const topUp = () => post(`/accounts/${id}/credits`, { amountCents: 250 }, { 'idempotency-key': `top-${id}` });
    expect((await topUp()).statusCode).toBe(201);
    expect((await topUp()).json()).toMatchObject({ applied: false, balanceAfterCents: 5_250 });
    expect((await post(`/accounts/${id}/credits`, { amountCents: 250 })).statusCode).toBe(400);
    expect((await post(`/accounts/nobody-${id}/credits`, { amountCents: 1 }, { 'idempotency-key': `k-${id}` })).statusCode).toBe(404);
    const account = await app.inject({ method: 'GET', url: `/accounts/${id}` });
    expect(account.json()).toMatchObject({ accountId: id, balanceCents: 5_250, version: 1, recentLedgerEntries: [{ kind: 'credit', amountCents: 250 }] });
    expect((await app.inject({ method: 'GET', url: `/accounts/nobody-${id}` })).statusCode).toBe(404);

    const sku = `sku-${randomUUID().slice(0, 8)}`;
    expect((await app.inject({ method: 'PUT', url: `/inventory/${sku}`, payload: { available: 7 } })).json()).toMatchObject({ sku, available: 7 });
    expect((await app.inject({ method: 'GET', url: `/inventory/${sku}` })).json()).toMatchObject({ available: 7 });
    expect((await app.inject({ method: 'PUT', url: `/inventory/${sku}`, payload: { available: -1 } })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: `/inventory/none-${sku}` })).statusCode).toBe(404);
  });

  it('health, readiness, metrics and the OpenAPI document', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready', database: 'ok', temporal: 'ok' });
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/orders_start_requests_total\{source="rest",result="started"\} \d+/);
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/orders', '/orders/{orderId}', '/accounts', '/inventory/{sku}']));
  });

  it('auth: with API_KEY set, a missing or wrong key is 401 on every route but probes and docs, and the right key passes', async () => {
    const apiKey = 'k'.repeat(32);
    const secured = await buildApp(loadConfig({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: taskQueue, API_KEY: apiKey }), {
      logger: false,
    });
    try {
      const id = `auth-${randomUUID().slice(0, 8)}`;
      const body = { accountId: id, openingBalanceCents: 1 };
      expect((await secured.inject({ method: 'POST', url: '/accounts', payload: body })).statusCode).toBe(401);
      expect((await secured.inject({ method: 'POST', url: '/accounts', payload: body, headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
      expect((await secured.inject({ method: 'POST', url: '/orders', payload: {} })).json()).toMatchObject({ error: 'Unauthorized' });
      expect((await secured.inject({ method: 'POST', url: '/accounts', payload: body, headers: { authorization: `Bearer ${apiKey}` } })).statusCode).toBe(201);
      // Reads are money too: balances and ledgers need the key; probes and the API description do not.
      expect((await secured.inject({ method: 'GET', url: `/accounts/${id}` })).statusCode).toBe(401);
      expect((await secured.inject({ method: 'GET', url: `/accounts/${id}`, headers: { authorization: `Bearer ${apiKey}` } })).statusCode).toBe(200);
      expect((await secured.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect((await secured.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await secured.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
    } finally {
      await secured.close();
    }
  });

  it('rate limit: past the per-minute budget a client gets 429 in the error shape', async () => {
    const limited = await buildApp(loadConfig({ DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, API_RATE_LIMIT_PER_MINUTE: '3' }), { logger: false });
    try {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await limited.inject({ method: 'GET', url: '/healthz' })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const body = (await limited.inject({ method: 'GET', url: '/healthz' })).json<{ error: string; message: string }>();
      expect(body.error).toBe('RateLimited');
      expect(body.message).toMatch(/rate limit/i);
    } finally {
      await limited.close();
    }
  });

  it('Temporal down mid-flight: 503 with Retry-After and no workflow; the key stays bound to its body; back up, the retry starts exactly one saga', async () => {
    const ids = uniqueIds('outage');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const body = { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 300 }] };
    await temporal.stop();
    try {
      const down = await post('/orders', body, { 'idempotency-key': ids.message });
      expect(down.statusCode).toBe(503);
      expect(down.headers['retry-after']).toBe('5');
      expect(down.json()).toMatchObject({ error: 'TemporalUnavailable' });
      // The start may have reached Temporal before it went silent, so the claim stays, unresolved.
      const { rows } = await db.pool.query('select run_id from processed_messages where message_id = $1', [ids.message]);
      expect(rows).toEqual([{ run_id: null }]);
      // While Temporal cannot say whether that start happened, other content under the key is never accepted.
      const otherBody = await post('/orders', { ...body, items: [{ ...body.items[0]!, quantity: 2 }] }, { 'idempotency-key': ids.message });
      expect([409, 503]).toContain(otherBody.statusCode);
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    } finally {
      await temporal.restart();
    }
    expect(await workflowExists(ids.message)).toBe(false);
    let retried;
    for (let i = 0; i < 50; i++) {
      retried = await post('/orders', body, { 'idempotency-key': ids.message });
      if (retried.statusCode !== 503) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(retried?.statusCode).toBe(202);
    expect((await post('/orders', body, { 'idempotency-key': ids.message })).statusCode).toBe(200);
    await waitForResult(ids.message);
    expect((await ledgerOf(db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(1);
    expect(await processedRows(ids.message)).toBe(1);
  });

  it('a claim a 503 left unresolved frees its key for other content once Temporal says that start never happened', async () => {
    const ids = uniqueIds('stale');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    await db.pool.query(
      `insert into processed_messages (message_id, workflow_id, source, fingerprint, claimed_at) values ($1, $2, 'rest', 'other content', now() - interval '1 minute')`,
      [ids.message, `order-${ids.message}`],
    );
    const answer = await post(
      '/orders',
      { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] },
      { 'idempotency-key': ids.message },
    );
    expect(answer.statusCode).toBe(202);
    await waitForResult(ids.message);
    const { rows } = await db.pool.query<{ fingerprint: string }>('select fingerprint from processed_messages where message_id = $1', [ids.message]);
    expect(rows[0]!.fingerprint).not.toBe('other content');
  });

  it('confirm and cancel racing on a just-placed order: exactly one wins, the other gets 409', async () => {
    for (let round = 0; round < 5; round++) {
      const ids = uniqueIds(`race-${round}`);
      await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
      expect(
        (
          await post(
            '/orders',
            { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], confirmation: 'manual' },
            { 'idempotency-key': ids.message },
          )
        ).statusCode,
      ).toBe(202);
      const [confirm, cancel] = await Promise.all([post(`/orders/${ids.message}/confirm`, {}), post(`/orders/${ids.message}/cancel`, {})]);
      const winner = confirm.statusCode === 200 ? 'CONFIRMED' : 'CANCELLED';
      expect([confirm.statusCode, cancel.statusCode].sort()).toEqual([200, 409]);
      expect([confirm, cancel].find((r) => r.statusCode === 409)!.json()).toMatchObject({ error: 'DecisionConflict' });
      await waitForResult(ids.message);
      expect((await app.inject({ method: 'GET', url: `/orders/${ids.message}` })).json()).toMatchObject({ status: winner });
    }
  });

  it('confirm and cancel take no body, an empty object, or (cancel) a reason; anything else is refused', async () => {
    const ids = uniqueIds('bodies');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    await post(
      '/orders',
      { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], confirmation: 'manual' },
      { 'idempotency-key': ids.message },
    );
    expect((await post(`/orders/${ids.message}/confirm`, { anything: 'goes' })).statusCode).toBe(400);
    // Asked not to wait: 202 once the saga accepted the decision.
    const accepted = await app.inject({ method: 'POST', url: `/orders/${ids.message}/cancel`, headers: { prefer: 'respond-async' } });
    expect({ code: accepted.statusCode, body: accepted.json<unknown>() }).toEqual({
      code: 202,
      body: { orderId: ids.message, decision: 'cancel', status: 'PENDING' },
    });
    expect((await app.inject({ method: 'POST', url: `/orders/${ids.message}/cancel` })).statusCode).toBe(200);
    // No body, labelled as JSON, as many HTTP clients send it.
    expect(
      (await app.inject({ method: 'POST', url: `/orders/${ids.message}/cancel`, headers: { 'content-type': 'application/json' }, payload: '' })).statusCode,
    ).toBe(200);
    await waitForResult(ids.message);
    expect((await app.inject({ method: 'POST', url: '/orders/../confirm' })).statusCode).not.toBe(202);
    expect(
      (await post('/orders', { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 1 }] }, { 'idempotency-key': '..' })).statusCode,
    ).toBe(400);
  });

  it('past INTAKE_BACKLOG_LIMIT sagas in flight a new order gets 503 Overloaded and starts nothing; copies still answer; the gate reopens as the backlog drains', async () => {
    const ids = uniqueIds('gate');
    await seed(db.pool, { account: [ids.account, 100_000], skus: [[ids.sku, 100]] });
    const queue = `${taskQueue}-gate`;
    const config = loadConfig({
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: queue,
      INTAKE_BACKLOG_LIMIT: '3',
      INTAKE_BACKLOG_CHECK_MS: '100',
      LOG_LEVEL: 'silent',
    });
    const gated = await buildApp(config, { logger: false });
    let worker: { stop(): Promise<void> } | undefined;
    try {
      const order = (n: number) => ({ messageId: `${ids.message}-${n}`, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] });
      const place = (n: number) => gated.inject({ method: 'POST', url: '/orders', payload: order(n) });
      // No worker polls this queue yet: the three sagas stay RUNNING.
      for (const n of [1, 2, 3]) expect((await place(n)).statusCode).toBe(202);
      await until(() => !gated.admission.open, 15_000);

      const refused = await place(4);
      expect(refused.statusCode).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.json()).toMatchObject({ error: 'Overloaded' });
      expect(await processedRows(order(4).messageId)).toBe(0);
      expect(await workflowExists(order(4).messageId)).toBe(false);
      const copy = await place(1);
      expect(copy.statusCode).toBe(200);
      expect(copy.json()).toMatchObject({ duplicate: true });

      worker = await stack.startWorker(queue);
      for (const n of [1, 2, 3]) await waitForResult(order(n).messageId);
      await until(() => gated.admission.open, 15_000);
      expect((await place(4)).statusCode).toBe(202);
      await waitForResult(order(4).messageId);
    } finally {
      await worker?.stop();
      await gated.close();
    }
  });
});
