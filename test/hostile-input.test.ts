import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app';
import { cancelSchema } from '../api/schemas';
import { orderMessageSchema } from '../contract/order';
import { loadConfig } from '../config';
import { Limits } from '../domain/limits';
import { duplicateKey } from '../domain/json';
import { rewardCents } from '../domain/order';
import { isTemporalUnavailable } from '../lib/temporal-errors';
import { assertInvariants } from './helpers/invariants';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { balanceOf, ledgerOf, seed, uniqueIds } from './helpers/seed';

/** Text that PostgreSQL cannot store, or that has no place in an ID or a reason. */
const hostileText: [string, string][] = [
  ['NUL', 'x\u0000'],
  ['a C0 control character', 'x\u0001y'],
  ['a newline', 'line\nbreak'],
  ['DEL', 'x\u007f'],
  ['a C1 control character', 'x\u0085'],
  ['a lone high surrogate', 'x\ud800'],
  ['a lone low surrogate', '\udc00x'],
];

describe('hostile input and money at the limits, on real Temporal and PostgreSQL', () => {
  let stack: RealStack;
  let app: FastifyInstance;

  beforeAll(async () => {
    stack = await startRealStack();
    const config = loadConfig({ DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_TASK_QUEUE: stack.taskQueue });
    app = await buildApp(config, { logger: false });
  });
  afterAll(async () => {
    await app?.close();
    await stack?.stop();
  });
  afterEach(async () => assertInvariants(stack.db.pool, { allowPending: true }));

  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers });
  /** A raw body, sent as it is: the bytes and the content type are what the test is about. */
  const postAccount = (payload: string | Buffer, contentType = 'application/json') =>
    app.inject({ method: 'POST', url: '/accounts', headers: { 'content-type': contentType }, payload });
  const errorShape = { error: expect.any(String) as string, message: expect.any(String) as string };

  it('a top-up key belongs to its account: another account may reuse it, another amount on the same account is a 409', async () => {
    const alice = `alice-${randomUUID().slice(0, 8)}`;
    const bob = `bob-${randomUUID().slice(0, 8)}`;
    await seed(stack.db.pool, { account: [alice, 1_000] });
    await seed(stack.db.pool, { account: [bob, 1_000] });
    const key = { 'idempotency-key': 'topup-7' };

    expect((await post(`/accounts/${alice}/credits`, { amountCents: 500 }, key)).statusCode).toBe(201);
    const bobs = await post(`/accounts/${bob}/credits`, { amountCents: 700 }, key);
    expect(bobs.statusCode).toBe(201);
    expect(bobs.json()).toEqual({ accountId: bob, applied: true, balanceAfterCents: 1_700 });

    const again = await post(`/accounts/${alice}/credits`, { amountCents: 500 }, key);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ accountId: alice, applied: false, balanceAfterCents: 1_500 });

    const otherAmount = await post(`/accounts/${alice}/credits`, { amountCents: 600 }, key);
    expect(otherAmount.statusCode).toBe(409);
    expect(otherAmount.json()).toEqual({ ...errorShape, error: 'IdempotencyKeyConflict' });

    expect(await balanceOf(stack.db.pool, alice)).toBe(1_500);
    expect(await balanceOf(stack.db.pool, bob)).toBe(1_700);
    expect((await ledgerOf(stack.db.pool, bob)).map((e) => e.amount_cents)).toEqual([700]);
  });

  it.each(hostileText)('a cancel reason with %s is a 400 and stores nothing', async (_name, reason) => {
    const ids = uniqueIds('reason');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    const placed = await post(
      '/orders',
      { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], confirmation: 'manual' },
      { 'idempotency-key': ids.message },
    );
    expect(placed.statusCode).toBe(202);
    // Raw JSON, so the escapes reach the server exactly as an attacker would send them.
    const response = await app.inject({
      method: 'POST',
      url: `/orders/${ids.message}/cancel`,
      headers: { 'content-type': 'application/json' },
      payload: `{"reason":${JSON.stringify(reason)}}`,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'ValidationError', details: [expect.objectContaining({ path: '/reason' })] });
    const { rows } = await stack.db.pool.query('select confirmation_decision from orders where id = $1', [ids.message]);
    expect(rows.every((r: { confirmation_decision: string | null }) => r.confirmation_decision === null)).toBe(true);
    await post(`/orders/${ids.message}/cancel`, { reason: 'clean up' });
    await stack.result(ids.message);
  });

  it('Kafka commands and REST bodies share the text rules: every ID field refuses hostile text', () => {
    const valid = { messageId: 'm-1', customerId: 'alice', items: [{ sku: 'book-1', quantity: 1, unitPriceCents: 100 }] };
    expect(orderMessageSchema.safeParse(valid).success).toBe(true);
    for (const [name, text] of hostileText) {
      for (const field of ['messageId', 'customerId', 'sku'] as const) {
        const command = field === 'sku' ? { ...valid, items: [{ ...valid.items[0], sku: text }] } : { ...valid, [field]: text };
        expect(orderMessageSchema.safeParse(command).success, `${field} with ${name}`).toBe(false);
      }
      expect(cancelSchema.safeParse({ reason: text }).success, `reason with ${name}`).toBe(false);
    }
    expect(cancelSchema.safeParse({ reason: 'r'.repeat(Limits.maxReasonLength + 1) }).success).toBe(false);
    expect(cancelSchema.safeParse({ reason: 'Kundin hat storniert — 返品 ✓' }).success).toBe(true);
  });

  it('balances stay inside the exact range: an opening balance past the limit is a 400, a credit past it a 409, the account stays readable', async () => {
    const rich = `rich-${randomUUID().slice(0, 8)}`;
    expect((await post('/accounts', { accountId: rich, openingBalanceCents: Number.MAX_SAFE_INTEGER })).statusCode).toBe(400);
    expect((await post('/accounts', { accountId: rich, openingBalanceCents: Limits.maxBalanceCents - 1 })).statusCode).toBe(201);
    const over = await post(`/accounts/${rich}/credits`, { amountCents: 2 }, { 'idempotency-key': `over-${rich}` });
    expect(over.statusCode).toBe(409);
    expect(over.json()).toEqual({ ...errorShape, error: 'BalanceLimitExceeded' });
    expect((await post(`/accounts/${rich}/credits`, { amountCents: Number.MAX_SAFE_INTEGER }, { 'idempotency-key': `huge-${rich}` })).statusCode).toBe(400);
    expect((await post(`/accounts/${rich}/credits`, { amountCents: 1 }, { 'idempotency-key': `one-${rich}` })).statusCode).toBe(201);
    const account = await app.inject({ method: 'GET', url: `/accounts/${rich}` });
    expect(account.statusCode).toBe(200);
    expect(account.json()).toMatchObject({ balanceCents: Limits.maxBalanceCents });
    // The database refuses what the code would never write: the CHECKs are the last line.
    await expect(stack.db.pool.query('update accounts set balance_cents = $2 where id = $1', [rich, Limits.balanceCeilingCents + 1])).rejects.toMatchObject({
      code: '23514',
    });
    await expect(
      stack.db.pool.query(
        `insert into orders (id, customer_id, items, total_cents, status, confirmation) values ($1, $2, '[]', 1000000000001, 'PENDING', 'auto')`,
        [`o-${rich}`, rich],
      ),
    ).rejects.toMatchObject({ code: '23514' });
  });

  it.each(['cancel', 'confirm'] as const)(
    'an account topped up to the limit while its order waits: the %s still completes (refunds and cashback are never refused)',
    async (decision) => {
      const ids = uniqueIds(`fill-${decision}`);
      await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
      const body = { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 10_000 }], confirmation: 'manual' };
      expect((await post('/orders', body, { 'idempotency-key': ids.message })).statusCode).toBe(202);
      for (let i = 0; i < 100; i++) {
        const view = (await app.inject({ method: 'GET', url: `/orders/${ids.message}` })).json<{ saga?: { state: string } }>();
        if (view.saga?.state === 'AWAITING_CONFIRMATION') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(
        (await post(`/accounts/${ids.account}/credits`, { amountCents: Limits.maxBalanceCents }, { 'idempotency-key': `fill-${ids.tag}` })).statusCode,
      ).toBe(201);
      expect((await post(`/orders/${ids.message}/${decision}`, {})).statusCode).toBe(200);
      await stack.result(ids.message);
      const order = (await app.inject({ method: 'GET', url: `/orders/${ids.message}` })).json<{ status: string }>();
      expect(order.status).toBe(decision === 'cancel' ? 'CANCELLED' : 'CONFIRMED');
      expect(await balanceOf(stack.db.pool, ids.account)).toBe(Limits.maxBalanceCents + (decision === 'cancel' ? 10_000 : 100));
    },
  );

  it('cashback is exact at the largest total and rate (the plain product would pass 2^53)', () => {
    const exact = (total: number, bp: number) => Number((BigInt(total) * BigInt(bp)) / 10_000n);
    for (const [total, bp] of [
      [Limits.maxOrderTotalCents, 10_000],
      [Limits.maxOrderTotalCents - 1, 9_999],
      [999_409_991_959, 9_561],
      [3_998, 100],
    ] as const) {
      expect(rewardCents(total, bp), `${total} at ${bp} bp`).toBe(exact(total, bp));
    }
  });

  it('a call cut off with its channel or refused for load counts as Temporal unavailable (503), a refusal does not', () => {
    const grpc = (code: number, message: string) => Object.assign(new Error(message), { code });
    const wrapped = (cause: Error) => new Error('Failed to signal Workflow', { cause });
    expect(isTemporalUnavailable(wrapped(grpc(1, '1 CANCELLED: Call cancelled')))).toBe(true);
    expect(isTemporalUnavailable(wrapped(grpc(8, '8 RESOURCE_EXHAUSTED: namespace rate limit exceeded')))).toBe(true);
    expect(isTemporalUnavailable(wrapped(grpc(14, '14 UNAVAILABLE: No connection established')))).toBe(true);
    expect(isTemporalUnavailable(wrapped(grpc(3, '3 INVALID_ARGUMENT: WorkflowId length exceeds limit')))).toBe(false);
  });

  it('a JSON key twice in one object is refused, over REST (400) and in the Kafka schema path (same check)', async () => {
    const ids = uniqueIds('dupkey');
    const response = await app.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'content-type': 'application/json' },
      payload: `{"messageId":"${ids.message}","customerId":"nobody","customerId":"${ids.account}","items":[{"sku":"s","quantity":1,"unitPriceCents":1}]}`,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'DuplicateKey', message: expect.stringContaining('customerId') as string });
    expect(await stack.workflowExists(ids.message)).toBe(false);
    const proto = await postAccount('{"__proto__":{"x":1},"accountId":"a","openingBalanceCents":1}');
    expect({ code: proto.statusCode, body: proto.json<unknown>() }).toMatchObject({ code: 400, body: { error: 'ForbiddenKey' } });
    const constructor = await postAccount('{"constructor":{"prototype":{"x":1}},"accountId":"a","openingBalanceCents":1}');
    expect(constructor.json()).toMatchObject({ error: 'ForbiddenKey' });
    expect(duplicateKey('{"items":[{"sku":"a","sku":"b"}]}')).toBe('sku');
    expect(duplicateKey('{"a":{"k":1},"b":{"k":2}}')).toBeUndefined();
  });

  it('a body that is not UTF-8, or says another charset, is a 400: never decoded to U+FFFD and stored', async () => {
    const ids = uniqueIds('utf8');
    const order = (reason: Buffer) => Buffer.concat([Buffer.from(`{"accountId":"${ids.account}","openingBalanceCents":1,"x":"`), reason, Buffer.from('"}')]);
    for (const bytes of [Buffer.from([0x63, 0x61, 0x66, 0xff, 0xfe]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xed, 0xa0, 0x80])]) {
      const response = await postAccount(order(bytes));
      expect(response.statusCode, bytes.toString('hex')).toBe(400);
      expect(response.json()).toEqual({ error: 'MalformedJson', message: 'the body is not valid UTF-8' });
    }
    const latin1 = await postAccount(`{"accountId":"${ids.account}","openingBalanceCents":1}`, 'application/json; charset=iso-8859-1');
    expect(latin1.statusCode).toBe(400);
    expect(latin1.json()).toMatchObject({ error: 'MalformedJson' });
    const utf8 = await postAccount(`{"accountId":"${ids.account}","openingBalanceCents":1}`, 'application/json; charset=UTF-8');
    expect(utf8.statusCode).toBe(201);
  });

  it('order amounts are bounded so no total leaves the exact range', async () => {
    const item = { sku: 'sku-1', quantity: Limits.maxQuantity, unitPriceCents: Limits.maxUnitPriceCents };
    const tooMuch = await post('/orders', { customerId: 'a', items: Array(Limits.maxItems).fill(item) }, { 'idempotency-key': `big-${randomUUID()}` });
    expect(tooMuch.statusCode).toBe(400);
    const unsafePrice = await post(
      '/orders',
      { customerId: 'a', items: [{ ...item, quantity: 1, unitPriceCents: 2 ** 53 }] },
      { 'idempotency-key': `p-${randomUUID()}` },
    );
    expect(unsafePrice.statusCode).toBe(400);
  });

  it('stock counts are bigint end to end: a restock after 1.2 billion units sold works; past the exact range it is a 422', async () => {
    const sku = `sku-${randomUUID().slice(0, 8)}`;
    const put = (available: number) => app.inject({ method: 'PUT', url: `/inventory/${sku}`, payload: { available } });
    expect((await put(1_000_000_000)).statusCode).toBe(200);
    // 1.2 billion units sold over time: available fell, provisioned (available + sold) kept them.
    await stack.db.pool.query('update inventory set provisioned = provisioned + 1200000000 where sku = $1', [sku]);
    const restock = await put(1_000_000_000);
    expect(restock.statusCode).toBe(200);
    expect(restock.json()).toMatchObject({ available: 1_000_000_000 });
    await stack.db.pool.query('update inventory set available = 0, provisioned = $2 where sku = $1', [sku, Number.MAX_SAFE_INTEGER - 10]);
    expect((await put(5)).statusCode).toBe(200);
    const beyond = await put(100);
    expect(beyond.statusCode).toBe(422);
    expect(beyond.json()).toEqual({ ...errorShape, error: 'ValueRefused' });
    expect((await app.inject({ method: 'GET', url: `/inventory/${sku}` })).json()).toMatchObject({ available: 5 });
    await stack.db.pool.query('delete from inventory where sku = $1', [sku]);
  });

  it('path IDs: 129 characters is a validation error, an absurd length a 414, both in the one error shape', async () => {
    const long = await app.inject({ method: 'GET', url: `/orders/${'a'.repeat(129)}` });
    expect(long.statusCode).toBe(400);
    expect(long.json()).toMatchObject({ error: 'ValidationError', message: expect.any(String) as string });
    const absurd = await app.inject({ method: 'GET', url: `/orders/${'a'.repeat(600)}` });
    expect(absurd.statusCode).toBe(414);
    expect(absurd.json()).toEqual({ error: 'UriTooLong', message: expect.any(String) as string });
  });

  it('requests the HTTP parser refuses (a huge URL, a lowercase method) are answered in the one error shape', async () => {
    const server = await buildApp(loadConfig({ DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.temporal.address }), { logger: false });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const { port } = server.server.address() as net.AddressInfo;
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.write(request));
        let answer = '';
        socket.on('data', (d: Buffer) => (answer += d.toString()));
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
      });
    try {
      for (const [request, status, error] of [
        [`GET /orders/${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'HeadersTooLarge'],
        ['post /orders HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'BadRequest'],
      ] as const) {
        const answer = await raw(request);
        expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error, message: expect.any(String) as string });
      }
    } finally {
      await server.close();
    }
  });

  it('while the API shuts down, requests get 503 with Retry-After in the one error shape', async () => {
    const closing = await buildApp(loadConfig({ DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.temporal.address }), { logger: false });
    await closing.listen({ port: 0, host: '127.0.0.1' });
    const { port } = closing.server.address() as net.AddressInfo;
    const socket = net.connect({ port, host: '127.0.0.1' });
    let raw = '';
    socket.on('data', (d: Buffer) => (raw += d.toString()));
    // Listen before closing: the server may drop the socket before `close()` resolves.
    const socketClosed = new Promise((r) => socket.once('close', r));
    await new Promise((r) => socket.once('connect', r));
    // A request whose body is still arriving keeps the connection busy, so the server cannot drop it...
    socket.write('POST /accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    const closed = closing.close();
    // ...and the next request on it arrives while the server drains.
    socket.write('{}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await closed;
    await socketClosed;
    const second = raw.slice(raw.indexOf('HTTP/1.1', 1));
    expect(second).toMatch(/^HTTP\/1\.1 503/);
    expect(second).toMatch(/\r\nretry-after: 5\r\n/i);
    expect(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'ShuttingDown', message: expect.any(String) as string });
  });
});
