import { randomUUID } from 'node:crypto';
import { mkdtempSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp } from '../api/app';
import { loadConfig } from '../config';
import { OrderIntake, type IntakeOptions, type StartFn } from '../consumer/intake';
import { createPool } from '../db/pool';
import { Admission, countBacklog } from '../intake/admission';
import { startOrder, TemporalUnavailableError } from '../intake/start-order';
import { startRefund } from '../intake/start-refund';
import { refundWorkflowIdFor } from '../domain/refund';
import type { refundSaga } from '../workflows/refund-saga';
import { ensureTopics, Topics } from '../messaging/topics';
import { OutboxRelay } from '../relay/outbox-relay';
import { readToolchain, repoRoot, startKafka } from '../tools/stack/servers';
import { createTestDatabase } from './helpers/database';
import { freePort } from './global-setup';
import { assertInvariants } from './helpers/invariants';
import { quietLogger } from './helpers/loggers';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { ledgerOf, seed, uniqueIds } from './helpers/seed';

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
};

describe('Kafka intake on real Kafka, Temporal and PostgreSQL', () => {
  const kafka = new Kafka({ brokers: inject('kafkaBrokers'), clientId: 'intake-test', logLevel: logLevel.NOTHING });
  let admin: Admin;
  let stack: RealStack;
  const intakes: OrderIntake[] = [];

  beforeAll(async () => {
    stack = await startRealStack();
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(intakes.map((i) => i.stop().catch(() => undefined)));
    await admin?.disconnect();
    await stack?.stop();
  });
  afterEach(async () => assertInvariants(stack.db.pool, { allowPending: true }));

  async function freshTopics() {
    const topic = `cmds-${randomUUID()}`;
    const dlq = `dlq-${randomUUID()}`;
    await admin.createTopics({
      topics: [
        { topic, numPartitions: 1 },
        { topic: dlq, numPartitions: 1 },
      ],
      waitForLeaders: true,
    });
    return { topic, dlq, groupId: `g-${randomUUID()}` };
  }

  const realStart: StartFn = (request) => startOrder({ client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue }, request, 'kafka');

  async function runIntake(t: { topic: string; dlq: string; groupId: string }, start: StartFn = realStart, options: Partial<IntakeOptions> = {}) {
    const intake = new OrderIntake({
      ...{ kafka, pool: stack.db.pool, groupId: t.groupId, topic: t.topic, deadLetterTopic: t.dlq, start, logger: quietLogger },
      ...{ initialBackoffMs: 100, maxBackoffMs: 400, ...options },
    });
    intakes.push(intake);
    await intake.start();
    return intake;
  }

  async function committed(t: { topic: string; groupId: string }): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const [offsets] = await admin.fetchOffsets({ groupId: t.groupId, topics: [t.topic] });
        return Number(offsets?.partitions[0]?.offset ?? -1);
      } catch (err) {
        // A new group's coordinator may still be loading.
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async function produce(topic: string, values: (string | object)[]) {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: values.map((v) => ({
        key: typeof v === 'object' && 'customerId' in v ? String(v.customerId) : 'x',
        value: typeof v === 'string' ? v : JSON.stringify(v),
      })),
    });
    await producer.disconnect();
  }

  async function startedCount(messageIds: string[]): Promise<number> {
    const { rows } = await stack.db.pool.query<{ n: number }>(
      'select count(*)::int as n from processed_messages where message_id = any($1) and run_id is not null',
      [messageIds],
    );
    return rows[0]!.n;
  }

  interface DeadLettered {
    error: string;
    offset: string;
    dlqId: string;
    grpcCode?: string;
    reason: string;
    valueOmitted?: string;
  }

  /** Every record on the (one-partition) DLQ topic, duplicates included: as many as its high watermark. */
  async function readDeadLetters(t: { topic: string; dlq: string }): Promise<DeadLettered[]> {
    const [offsets] = await admin.fetchTopicOffsets(t.dlq);
    const total = Number(offsets!.high);
    const dead: DeadLettered[] = [];
    if (total === 0) return dead;
    const reader = kafka.consumer({ groupId: `dlq-reader-${randomUUID()}` });
    await reader.connect();
    await reader.subscribe({ topic: t.dlq, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      reader
        .run({
          eachMessage: ({ message }) => {
            const header = (name: string) => message.headers?.[name]?.toString();
            dead.push({
              error: header('x-error')!,
              offset: header('x-source-offset')!,
              dlqId: header('x-dlq-id')!,
              grpcCode: header('x-grpc-code'),
              reason: header('x-error-reason')!,
              valueOmitted: header('x-value-omitted'),
            });
            if (dead.length === total) resolve();
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
    await reader.disconnect();
    return dead.sort((p, q) => Number(p.offset) - Number(q.offset));
  }

  async function deadLetterRows(topic: string) {
    const { rows } = await stack.db.pool.query<{ source_offset: number; error: string; produced: boolean }>(
      'select source_offset, error, produced_at is not null as produced from dead_letters where source_topic = $1 order by source_offset',
      [topic],
    );
    return rows;
  }

  /** Fails with TemporalUnavailableError the first `failures` times it is called for `messageId`. */
  function failingTransiently(messageId: string, failures: number, attempts: Map<string, number>): StartFn {
    return (request) => {
      const n = (attempts.get(request.messageId) ?? 0) + 1;
      attempts.set(request.messageId, n);
      if (request.messageId === messageId && n <= failures) return Promise.reject(new TemporalUnavailableError('simulated: Temporal unreachable'));
      return realStart(request);
    };
  }

  async function processedCount(messageId: string): Promise<number> {
    const { rows } = await stack.db.pool.query<{ n: number }>('select count(*)::int as n from processed_messages where message_id = $1', [messageId]);
    return rows[0]!.n;
  }

  const orderFor = (ids: ReturnType<typeof uniqueIds>, messageId: string, cents = 100) => ({
    messageId,
    customerId: ids.account,
    items: [{ sku: ids.sku, quantity: 1, unitPriceCents: cents }],
  });

  it('the same message via REST and via Kafka collapses onto one workflow', async () => {
    const ids = uniqueIds('both');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const app = await buildApp(loadConfig({ DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_TASK_QUEUE: stack.taskQueue }), {
      logger: false,
    });
    try {
      const rest = await app.inject({ method: 'POST', url: '/orders', payload: orderFor(ids, ids.message) });
      expect(rest.statusCode).toBe(202);
      const t = await freshTopics();
      await produce(t.topic, [orderFor(ids, ids.message)]);
      await runIntake(t);
      await until('the Kafka copy to be committed', async () => (await committed(t)) === 1);
      await stack.result(ids.message);
      expect(await processedCount(ids.message)).toBe(1);
      expect((await ledgerOf(stack.db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it('a refund command collapses with the REST one by refund ID; an invalid or refused refund goes to the DLQ with why', async () => {
    const ids = uniqueIds('refund');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const deps = { client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue };
    await startOrder(deps, orderFor(ids, ids.message), 'kafka');
    await stack.result(ids.message);
    const refund = (refundId: string, amountCents: unknown) => ({ type: 'refund', refundId, orderId: ids.message, amountCents });
    const t = await freshTopics();
    await produce(t.topic, [
      refund(`${ids.tag}-r1`, 100),
      refund(`${ids.tag}-r1`, 100),
      refund(`${ids.tag}-r2`, 0),
      refund(`${ids.tag}-r3`, 1_000_000),
      refund(`${ids.tag}-r1`, 101),
      { type: 'refund', refundId: `${ids.tag}-r4`, orderId: ids.message, amountCents: 1, currency: 'EUR' },
    ]);
    await runIntake(t, realStart, { startRefund: (request) => startRefund(deps, request) });
    await until('every record to be committed', async () => (await committed(t)) === 6);
    const dead = await readDeadLetters(t);
    expect(dead.map((d) => [d.offset, d.error])).toEqual([
      ['2', 'ValidationError'],
      ['3', 'RefundRefused'],
      ['4', 'RefundRefused'],
      ['5', 'ValidationError'],
    ]);
    expect(dead[1]!.reason).toMatch(/^RefundExceedsPaid: /);
    expect(dead[2]!.reason).toMatch(/^RefundIdConflict: /);
    const ended = await stack.client.workflow.getHandle<typeof refundSaga>(refundWorkflowIdFor(`${ids.tag}-r1`)).result();
    expect(ended).toMatchObject({ state: 'REFUNDED' });

    const app = await buildApp(loadConfig({ DATABASE_URL: stack.db.url, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_TASK_QUEUE: stack.taskQueue }), {
      logger: false,
    });
    try {
      const rest = await app.inject({ method: 'POST', url: `/orders/${ids.message}/refunds`, payload: { refundId: `${ids.tag}-r1`, amountCents: 100 } });
      expect(rest.statusCode).toBe(200);
      expect(rest.json()).toMatchObject({ duplicate: true, status: 'REFUNDED' });
    } finally {
      await app.close();
    }
    const { rows } = await stack.db.pool.query('select id from refunds where order_id = $1', [ids.message]);
    expect(rows).toEqual([{ id: `${ids.tag}-r1` }]);
    expect((await ledgerOf(stack.db.pool, ids.account)).filter((e) => e.kind === 'refund')).toHaveLength(1);
  });

  it('three deliveries of a message and a consumer restarted mid-batch: one order each, no offset committed past an unstarted message', async () => {
    const ids = uniqueIds('redeliver');
    await seed(stack.db.pool, { account: [ids.account, 100_000], skus: [[ids.sku, 100]] });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => `${ids.message}-${x}`) as [string, string, string, string];
    const t = await freshTopics();
    // offsets:    0  1  2  3  4  5  6
    await produce(
      t.topic,
      [a, b, a, c, a, b, d].map((m) => orderFor(ids, m)),
    );

    let releaseC: (err: Error) => void = () => undefined;
    const cBlocked = new Promise<never>((_, reject) => (releaseC = reject));
    const first = await runIntake(t, (request) => (request.messageId === c ? cBlocked : realStart(request)));

    await until('a, b and d to start while c hangs', async () => (await processedCount(a)) + (await processedCount(b)) + (await processedCount(d)) === 3);
    const samples: number[] = [];
    for (let i = 0; i < 10; i++) {
      samples.push(await committed(t));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(Math.max(...samples)).toBeLessThanOrEqual(3);

    // Restart mid-batch: the consumer stops while c is still unstarted.
    const stopped = first.stop();
    releaseC(new TemporalUnavailableError('simulated outage during shutdown'));
    await stopped;
    expect(await committed(t)).toBe(3);
    expect(await processedCount(c)).toBe(0);

    await runIntake(t);
    await until('everything to be committed', async () => (await committed(t)) === 7);
    for (const m of [a, b, c, d]) {
      expect(await processedCount(m)).toBe(1);
      await stack.result(m);
    }
    const { rows } = await stack.db.pool.query<{ n: number }>('select count(*)::int as n from orders where customer_id = $1', [ids.account]);
    expect(rows[0]!.n).toBe(4);
    expect((await ledgerOf(stack.db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(4);
  });

  it(
    'rebalances while starts are in flight (C6): a second consumer joins, then the first leaves; redelivered messages collapse, one order each',
    { timeout: 180_000 },
    async () => {
      const ids = uniqueIds('rebalance');
      await seed(stack.db.pool, { account: [ids.account, 1_000_000], skus: [[ids.sku, 1_000]] });
      const t = { ...(await freshTopics()), topic: `cmds-${randomUUID()}` };
      await admin.createTopics({ topics: [{ topic: t.topic, numPartitions: 3 }], waitForLeaders: true });
      const messageIds = Array.from({ length: 90 }, (_, i) => `${ids.message}-${i}`);
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      await producer.send({ topic: t.topic, acks: -1, messages: messageIds.map((m) => ({ key: m, value: JSON.stringify(orderFor(ids, m)) })) });
      await producer.disconnect();

      // The first consumer alone would take over 20 s, so the group rebalances while it has starts in flight and offsets uncommitted.
      const startsBy = new Map<string, string[]>();
      const member = (name: string, delayMs: number): StartFn => {
        startsBy.set(name, []);
        return async (request) => {
          startsBy.get(name)!.push(request.messageId);
          await new Promise((r) => setTimeout(r, delayMs));
          return realStart(request);
        };
      };
      const first = await runIntake(t, member('first', 500), { concurrency: 2 });
      await until('the first consumer to start some', () => Promise.resolve(startsBy.get('first')!.length >= 4));
      await runIntake(t, member('second', 20), { concurrency: 2 });
      await until('the second consumer to get partitions', () => Promise.resolve(startsBy.get('second')!.length >= 3));
      await first.stop();

      const committedTotal = async () => {
        const partitions = (await admin.fetchOffsets({ groupId: t.groupId, topics: [t.topic] }))[0]!.partitions;
        return partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
      };
      await until('every partition to be committed to its end', async () => (await committedTotal()) === messageIds.length, 120_000);
      const [byFirst, bySecond] = [new Set(startsBy.get('first')), new Set(startsBy.get('second'))];
      // The failure really happened: records the first consumer had started were delivered again to the second.
      expect([...byFirst].filter((m) => bySecond.has(m)).length).toBeGreaterThan(0);
      expect(new Set([...byFirst, ...bySecond]).size).toBe(messageIds.length);
      expect(await deadLetterRows(t.topic)).toEqual([]);

      // Committed means started: every message has its run before the offsets past it were committed.
      expect(await startedCount(messageIds)).toBe(messageIds.length);
      await Promise.all(messageIds.map((m) => stack.result(m)));
      const { rows } = await stack.db.pool.query<{ n: number }>('select count(*)::int as n from orders where customer_id = $1', [ids.account]);
      expect(rows[0]!.n).toBe(messageIds.length);
      expect((await ledgerOf(stack.db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(messageIds.length);
    },
  );

  it('Temporal unavailable: the partition pauses and retries with backoff; nothing is committed ahead', async () => {
    const ids = uniqueIds('paused');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const [x, y] = [`${ids.message}-x`, `${ids.message}-y`];
    const t = await freshTopics();
    await produce(t.topic, [orderFor(ids, x), orderFor(ids, y)]);
    let failuresLeft = 3;
    let xAttempts = 0;
    const commitsWhileXUnstarted: number[] = [];
    await runIntake(t, async (request) => {
      if (request.messageId === x) {
        xAttempts++;
        if (failuresLeft-- > 0) {
          commitsWhileXUnstarted.push(await committed(t));
          throw new TemporalUnavailableError('simulated: Temporal unreachable');
        }
      }
      return realStart(request);
    });
    await until('both committed', async () => (await committed(t)) === 2);
    expect(xAttempts).toBe(4);
    expect(commitsWhileXUnstarted.every((offset) => offset <= 0)).toBe(true);
    expect(await processedCount(x)).toBe(1);
    expect(await processedCount(y)).toBe(1);
    await stack.result(x);
    await stack.result(y);
  });

  it('invalid messages go to the dead-letter topic with the error in headers, and the offset moves past them', async () => {
    const ids = uniqueIds('dlq');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const t = await freshTopics();
    const good = orderFor(ids, `${ids.message}-good`);
    await produce(t.topic, [
      '{"not json',
      { customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }] }, // no messageId
      { ...good, items: [{ sku: ids.sku, quantity: -1, unitPriceCents: 100 }], messageId: `${ids.message}-neg` },
      good,
      { ...good, items: [{ sku: ids.sku, quantity: 2, unitPriceCents: 100 }] }, // same ID, different content
      `{"messageId":"${ids.message}-dup","customerId":"nobody","customerId":"${ids.account}","items":[{"sku":"${ids.sku}","quantity":1,"unitPriceCents":1}]}`,
    ]);
    await runIntake(t);
    await until('all six committed', async () => (await committed(t)) === 6);

    const dead = await readDeadLetters(t);
    expect(dead.map((d) => d.dlqId)).toEqual(['0', '1', '2', '4', '5'].map((offset) => `${t.topic}/0/${offset}`));
    expect(dead.map(({ error, offset }) => ({ error, offset }))).toEqual([
      { error: 'MalformedJson', offset: '0' },
      { error: 'ValidationError', offset: '1' },
      { error: 'ValidationError', offset: '2' },
      { error: 'MessageIdConflict', offset: '4' },
      { error: 'MalformedJson', offset: '5' }, // a key twice in one object
    ]);
    expect(await processedCount(`${ids.message}-dup`)).toBe(0);
    await stack.result(good.messageId);
    expect(await processedCount(`${ids.message}-neg`)).toBe(0);
    expect(await stack.workflowExists(`${ids.message}-neg`)).toBe(false);
  });

  it('a bad message too large for the dead-letter topic with its headers goes there without its value, and the partition moves on', async () => {
    const ids = uniqueIds('huge');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const t = await freshTopics(); // topics with the broker's default record limit (1 MiB)
    const good = orderFor(ids, `${ids.message}-after`);
    await produce(t.topic, [JSON.stringify({ unknownKey: 'x'.repeat(1_048_430) })]); // just under the source's limit
    await produce(t.topic, [good]);
    await runIntake(t);
    await until('both committed', async () => (await committed(t)) === 2);
    const dead = await readDeadLetters(t);
    expect(dead.map(({ error, dlqId }) => ({ error, dlqId }))).toEqual([{ error: 'ValidationError', dlqId: `${t.topic}/0/0` }]);
    expect(dead[0]!.valueOmitted).toMatch(/too large for the dead-letter topic/);
    await stack.result(good.messageId);
  });

  it('a bad message after one whose start fails transiently is dead-lettered once, however often the partition seeks back', async () => {
    const ids = uniqueIds('dlq-seek');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const t = await freshTopics();
    const [x, g2, g4] = ['x', 'g2', 'g4'].map((m) => `${ids.message}-${m}`) as [string, string, string];
    // offsets: 0 fails 3 times, 1 and 3 are bad (1 with a NUL, which PostgreSQL text refuses), all in one batch
    await produce(t.topic, [orderFor(ids, x), 'not json\u0000', orderFor(ids, g2), { ...orderFor(ids, `${ids.message}-neg`), items: [] }, orderFor(ids, g4)]);
    const attempts = new Map<string, number>();
    await runIntake(t, failingTransiently(x, 3, attempts));
    await until('all five committed', async () => (await committed(t)) === 5);

    expect(attempts.get(x)).toBe(4);
    const dead = await readDeadLetters(t);
    expect(dead.map(({ error, dlqId }) => ({ error, dlqId }))).toEqual([
      { error: 'MalformedJson', dlqId: `${t.topic}/0/1` },
      { error: 'ValidationError', dlqId: `${t.topic}/0/3` },
    ]);
    expect(await deadLetterRows(t.topic)).toEqual([
      { source_offset: 1, error: 'MalformedJson', produced: true },
      { source_offset: 3, error: 'ValidationError', produced: true },
    ]);
    // Starts ahead of the commit point are relaunched after each seek-back; they collapse onto one workflow.
    for (const m of [x, g2, g4]) {
      expect(await processedCount(m)).toBe(1);
      await stack.result(m);
    }
  });

  it('a dead-lettered message redelivered to a restarted consumer is not dead-lettered again', async () => {
    const ids = uniqueIds('dlq-restart');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const t = await freshTopics();
    const [g1, g3] = [`${ids.message}-g1`, `${ids.message}-g3`];
    await produce(t.topic, ['{"not json', orderFor(ids, g1), '[]', orderFor(ids, g3)]);
    const first = await runIntake(t);
    await until('all four committed', async () => (await committed(t)) === 4);
    await first.stop();

    // As if the consumer had died before committing: the group starts over from offset 0.
    await admin.setOffsets({ groupId: t.groupId, topic: t.topic, partitions: [{ partition: 0, offset: '0' }] });
    expect(await committed(t)).toBe(0);
    const starts: string[] = [];
    await runIntake(t, (request) => (starts.push(request.messageId), realStart(request)));
    await until('all four committed again', async () => (await committed(t)) === 4);

    expect(starts.sort()).toEqual([g1, g3].sort()); // redelivered, and collapsed onto their workflows
    const dead = await readDeadLetters(t);
    expect(dead.map(({ error, dlqId }) => ({ error, dlqId }))).toEqual([
      { error: 'MalformedJson', dlqId: `${t.topic}/0/0` },
      { error: 'ValidationError', dlqId: `${t.topic}/0/2` },
    ]);
    for (const m of [g1, g3]) {
      expect(await processedCount(m)).toBe(1);
      await stack.result(m);
    }
  });

  it('the window left: a crash between the DLQ ack and the database mark sends a second copy, with the same x-dlq-id', async () => {
    const t = await freshTopics();
    await produce(t.topic, ['{"not json', '[]']);
    const first = await runIntake(t);
    await until('both committed', async () => (await committed(t)) === 2);
    await first.stop();

    // As if the process had died after the broker's ack for offset 0, before its row was marked and the offset committed.
    await stack.db.pool.query('update dead_letters set produced_at = null where source_topic = $1 and source_offset = 0', [t.topic]);
    await admin.setOffsets({ groupId: t.groupId, topic: t.topic, partitions: [{ partition: 0, offset: '0' }] });
    await runIntake(t);
    await until('both committed again', async () => (await committed(t)) === 2);

    const dead = await readDeadLetters(t);
    expect(dead.map((d) => d.dlqId)).toEqual([`${t.topic}/0/0`, `${t.topic}/0/0`, `${t.topic}/0/1`]);
    expect(new Set(dead.map((d) => d.dlqId)).size).toBe(2); // what a reader keeps after deduping on x-dlq-id
    expect((await deadLetterRows(t.topic)).every((row) => row.produced)).toBe(true);
  });

  it('a permanent refusal is dead-lettered after a bounded number of attempts; Temporal or PostgreSQL unavailable never is', async () => {
    const ids = uniqueIds('refused');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const t = await freshTopics();
    const [r, g, u, d] = ['r', 'g', 'u', 'd'].map((m) => `${ids.message}-${m}`) as [string, string, string, string];
    await produce(
      t.topic,
      [r, g, u, d].map((m) => orderFor(ids, m)),
    );
    // A real refusal from the real Temporal server (gRPC INVALID_ARGUMENT: the workflow ID is too long),
    // and a real "connection refused" from a PostgreSQL port nobody listens on.
    const deadDatabase = createPool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none`, max: 1 });
    const deps = { client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue };
    const attempts = new Map<string, number>();
    const transient = failingTransiently(u, 8, attempts);
    const start: StartFn = (request) => {
      const n = (attempts.get(request.messageId) ?? 0) + 1;
      if (request.messageId === r) {
        attempts.set(r, n);
        return startOrder(deps, { ...request, messageId: r.padEnd(2_000, 'x') }, 'kafka');
      }
      if (request.messageId === d && n <= 6) {
        attempts.set(d, n);
        return startOrder({ ...deps, pool: deadDatabase }, request, 'kafka');
      }
      return transient(request);
    };
    await runIntake(t, start, { startAttempts: 3 });
    try {
      await until('all four committed', async () => (await committed(t)) === 4);
    } finally {
      await deadDatabase.end();
    }

    expect(attempts.get(r)).toBe(3);
    const dead = await readDeadLetters(t);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ error: 'StartRefused', dlqId: `${t.topic}/0/0`, grpcCode: '3' });
    expect(dead[0]!.reason).toMatch(/length|long|limit/i);
    expect(await deadLetterRows(t.topic)).toEqual([{ source_offset: 0, error: 'StartRefused', produced: true }]);
    expect(await processedCount(r)).toBe(0);
    expect(attempts.get(u)).toBeGreaterThanOrEqual(9);
    expect(attempts.get(d)).toBeGreaterThanOrEqual(7);
    for (const m of [g, u, d]) {
      expect(await processedCount(m)).toBe(1);
      await stack.result(m);
    }
  });
  it('past the backlog limit the consumer pauses: nothing is dead-lettered or skipped, and it goes on once the backlog drains', async () => {
    const t = await freshTopics();
    const ids = uniqueIds('kgate');
    await seed(stack.db.pool, { account: [ids.account, 100_000], skus: [[ids.sku, 100]] });
    const queue = `${stack.taskQueue}-kgate`;
    const admission = new Admission(countBacklog(stack.client, queue), 2, 100);
    admission.start();
    let worker: { stop(): Promise<void> } | undefined;
    try {
      const commands = [1, 2, 3, 4, 5].map((n) => ({
        messageId: `${ids.message}-${n}`,
        customerId: ids.account,
        items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }],
      }));
      // No worker polls this queue yet, so the first two sagas stay RUNNING and the backlog reaches the limit.
      await produce(t.topic, commands.slice(0, 2));
      await runIntake(t, (request) => startOrder({ client: stack.client, pool: stack.db.pool, taskQueue: queue, admission }, request, 'kafka'));
      await until('the gate to close', () => Promise.resolve(!admission.open), 30_000);
      await produce(t.topic, commands.slice(2));
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await startedCount(commands.map((c) => c.messageId))).toBe(2);
      expect(await committed(t)).toBe(2);

      worker = await stack.startWorker(queue);
      await until('all five started', async () => (await startedCount(commands.map((c) => c.messageId))) === 5, 60_000);
      for (const c of commands) await stack.result(c.messageId);
      await until('the offsets committed', async () => (await committed(t)) === 5);
      expect(await readDeadLetters(t)).toEqual([]);
    } finally {
      admission.stop();
      await worker?.stop();
    }
  });
});

describe('outbox relay on a real Kafka broker that restarts mid-run', () => {
  it('publishes every event, loses none, and consumers dedupe by event ID', { timeout: 180_000 }, async () => {
    const toolchain = readToolchain(process.env.STACK_DIR ?? path.join(repoRoot, '.stack'));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'relay-kafka-'));
    chmodSync(dir, 0o755);
    const brokerOptions = {
      libs: toolchain.KAFKA_LIBS,
      dataDir: dir,
      port: await freePort(),
      controllerPort: await freePort(),
      logFile: path.join(dir, 'kafka.log'),
    };
    let broker = await startKafka(brokerOptions);
    const kafka = new Kafka({ brokers: broker.brokers, clientId: 'relay-test', logLevel: logLevel.NOTHING, retry: { retries: 3, initialRetryTime: 100 } });
    await ensureTopics(kafka);
    const db = await createTestDatabase();
    const relay = new OutboxRelay({ pool: db.pool, kafka, logger: quietLogger, batchSize: 20, idleMs: 50, maxBackoffMs: 500 });
    try {
      const total = 400;
      await db.pool.query(
        `insert into outbox (event_id, order_id, topic, key, event_type, payload)
         select gen_random_uuid(), 'o-' || g, $1, 'o-' || g, 'order.confirmed', jsonb_build_object('orderId', 'o-' || g)
           from generate_series(1, $2) g`,
        [Topics.events, total],
      );
      const published = async () => (await db.pool.query<{ n: number }>('select count(*)::int as n from outbox where published_at is not null')).rows[0]!.n;

      relay.start();
      await until('some events out', async () => (await published()) > 0);
      // Killed, not stopped: a graceful stop takes seconds, in which the relay could publish every event (seen in CI).
      broker.child.kill('SIGKILL');
      await broker.exited;
      const duringOutage = await published();
      expect(duringOutage).toBeLessThan(total);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await published()).toBe(duringOutage); // nothing is marked published while the broker is down
      broker = await startKafka(brokerOptions);
      await until('every event published', async () => (await published()) === total, 120_000);
      await relay.stop();

      // A downstream consumer: may see an event twice, keeps it once by its event ID.
      const seen = new Map<string, number>();
      const reader = kafka.consumer({ groupId: `events-${randomUUID()}` });
      await reader.connect();
      await reader.subscribe({ topic: Topics.events, fromBeginning: true });
      let raw = 0;
      await new Promise<void>((resolve, reject) => {
        reader
          .run({
            eachMessage: ({ message }) => {
              raw++;
              const eventId = String(message.headers?.['event-id']);
              seen.set(eventId, (seen.get(eventId) ?? 0) + 1);
              expect(message.headers?.['message-id']?.toString()).toBe(message.key?.toString());
              if (seen.size === total) resolve();
              return Promise.resolve();
            },
          })
          .catch(reject);
      });
      await reader.disconnect();
      const { rows } = await db.pool.query<{ event_id: string }>('select event_id from outbox');
      expect(new Set(seen.keys())).toEqual(new Set(rows.map((r) => r.event_id)));
      expect(raw).toBeGreaterThanOrEqual(total);
    } finally {
      await relay.stop().catch(() => undefined);
      await db.drop();
      await broker.stop();
    }
  });
});
