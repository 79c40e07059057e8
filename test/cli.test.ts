import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { statusQuery } from '../contract/saga';
import { OrderIntake } from '../consumer/intake';
import { workflowIdFor } from '../domain/order';
import { startOrder } from '../intake/start-order';
import { startRefund } from '../intake/start-refund';
import { refundWorkflowIdFor } from '../domain/refund';
import { refundSaga } from '../workflows/refund-saga';
import { freePort } from './global-setup';
import { json, saga } from './helpers/cli';
import { assertInvariants } from './helpers/invariants';
import { quietLogger } from './helpers/loggers';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { balanceOf, ledgerOf, seed, uniqueIds } from './helpers/seed';

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
};

describe('npm run saga -- status, list, confirm, cancel, replay-dlq, on real PostgreSQL, Temporal and Kafka', () => {
  let stack: RealStack;
  let env: Record<string, string>;
  const kafka = new Kafka({ brokers: inject('kafkaBrokers'), clientId: 'cli-test', logLevel: logLevel.NOTHING });
  let admin: Admin;

  beforeAll(async () => {
    stack = await startRealStack();
    admin = kafka.admin();
    await admin.connect();
    env = {
      DATABASE_URL: stack.db.url,
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      TEMPORAL_UI_URL: 'http://ui.example:8080/',
      LOG_LEVEL: 'silent',
    };
  });
  afterAll(async () => {
    await admin?.disconnect();
    await stack?.stop();
  });

  const start = (ids: ReturnType<typeof uniqueIds>, messageId: string, extra: { confirmation?: 'manual'; cents?: number } = {}) =>
    startOrder(
      { client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue },
      { messageId, customerId: ids.account, items: [{ sku: ids.sku, quantity: 2, unitPriceCents: extra.cents ?? 1_999 }], confirmation: extra.confirmation },
      'rest',
    );
  const awaitingDecision = (orderId: string) =>
    until(`${orderId} to await its decision`, async () => {
      const s = await stack.client.workflow.getHandle(workflowIdFor(orderId)).query(statusQuery);
      return s.state === 'AWAITING_CONFIRMATION';
    });

  it('status, list, confirm and cancel: human and --json output, the API’s refusals, unknown orders', async () => {
    const ids = uniqueIds('cli');
    await seed(stack.db.pool, { account: [ids.account, 20_000], skus: [[ids.sku, 20]] });
    const [auto, held, dropped, unfunded] = ['auto', 'held', 'dropped', 'unfunded'].map((s) => `${ids.message}-${s}`) as [string, string, string, string];
    await start(ids, auto);
    const heldStart = await start(ids, held, { confirmation: 'manual' });
    await start(ids, dropped, { confirmation: 'manual' });
    await start(ids, unfunded, { cents: 900_000 });
    await Promise.all([stack.result(auto), stack.result(unfunded), awaitingDecision(held), awaitingDecision(dropped)]);

    // status of a saga awaiting its decision: from the query, with the Web UI link of its run.
    const waiting = await saga(['status', held], env);
    expect(waiting.code).toBe(0);
    expect(waiting.stdout).toContain(`order ${held}  AWAITING_CONFIRMATION`);
    expect(waiting.stdout).toMatch(/confirmation\s+manual, decision: none yet/);
    expect(waiting.stdout).toMatch(/steps\s+reserve applied, debit applied/);
    expect(waiting.stdout).toMatch(/total\s+39\.98/);
    expect(waiting.stdout).toMatch(/check-backs\s+0/);
    expect(waiting.stdout).toMatch(/needs review\s+no/);
    expect(waiting.stdout).toContain(`http://ui.example:8080/namespaces/default/workflows/order-${held}/${heldStart.runId}/history`);
    const waitingJson = json<Record<string, unknown>>(await saga(['status', held, '--json'], env));
    expect(waitingJson).toMatchObject({
      orderId: held,
      state: 'AWAITING_CONFIRMATION',
      totalCents: 3_998,
      decision: null,
      needsReview: false,
      checkBacksUsed: 0,
      saga: { state: 'AWAITING_CONFIRMATION', stepsApplied: ['reserve', 'debit'] },
      workflow: { workflowId: `order-${held}`, runId: heldStart.runId, status: 'RUNNING', taskQueue: stack.taskQueue },
    });

    // A compensated order, read after its saga closed: the result gives the compensations and check-backs.
    const failed = json<Record<string, unknown>>(await saga(['status', unfunded, '--json'], env));
    expect(failed).toMatchObject({ state: 'CANCELLED', checkBacksUsed: 0, workflow: { status: 'COMPLETED' } });
    expect(failed.steps).toEqual(
      expect.arrayContaining([expect.objectContaining({ step: 'reserve', state: 'compensated' }), expect.objectContaining({ step: 'debit', state: 'fenced' })]),
    );
    expect(failed.compensations).toEqual(expect.arrayContaining([expect.objectContaining({ step: 'reserve' })]));
    expect((await saga(['status', unfunded], env)).stdout).toMatch(/cancel reason\s+\S/);

    // list, from visibility: a table by default, JSON for scripts, filtered by status and customer.
    const awaitingList = ['list', '--status', 'awaiting_confirmation', '--customer', ids.account];
    await until('visibility to list both held orders', async () => json<{ sagas: unknown[] }>(await saga([...awaitingList, '--json'], env)).sagas.length === 2);
    const listed = json<{ sagas: { orderId: string; orderStatus: string; customerId: string; executionStatus: string }[] }>(
      await saga([...awaitingList, '--json'], env),
    );
    expect(listed.sagas.map((s) => s.orderId).sort()).toEqual([dropped, held].sort());
    expect(listed.sagas.every((s) => s.orderStatus === 'AWAITING_CONFIRMATION' && s.customerId === ids.account && s.executionStatus === 'RUNNING')).toBe(true);
    await until('visibility to list all four', async () => (await saga(['list', '--customer', ids.account], env)).stdout.includes('4 sagas'));
    const table = await saga(['list', '--customer', ids.account], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^KIND\s+ID\s+STATUS\s+CUSTOMER\s+REVIEW\s+WORKFLOW\s+STARTED\s+ORDER/);
    expect(table.stdout).toMatch(new RegExp(`${auto}\\s+CONFIRMED\\s+${ids.account}\\s+-\\s+COMPLETED`));
    expect(table.stdout).toContain('4 sagas');
    expect((await saga(['list', '--customer', ids.account, '--limit', '1', '--json'], env)).stdout).toMatch(/"orderId"/);
    expect(json<{ sagas: unknown[] }>(await saga(['list', '--customer', ids.account, '--limit', '1', '--json'], env)).sagas).toHaveLength(1);
    const review = await saga(['list', '--customer', ids.account, '--needs-review'], env);
    expect(review.stdout).toContain('no sagas match');

    // confirm and cancel through the decide update, answering with the outcome; the same decision again, the same answer.
    const confirmed = await saga(['confirm', held], env);
    expect(confirmed).toMatchObject({ code: 0, stdout: `order ${held}: CONFIRMED\n` });
    expect(json(await saga(['confirm', held, '--json'], env))).toEqual({ orderId: held, decision: 'confirm', status: 'CONFIRMED' });
    const cancelled = await saga(['cancel', dropped, '--reason', 'customer changed their mind', '--json'], env);
    expect(cancelled.code).toBe(0);
    expect(json(cancelled)).toMatchObject({ orderId: dropped, decision: 'cancel', status: 'CANCELLED' });
    expect(json<{ reason: string }>(cancelled).reason).toContain('customer changed their mind');
    expect(await balanceOf(stack.db.pool, ids.account)).toBe(20_000 - 3_998 - 3_998 + 39 + 39);

    // The API's 409s, as one line and exit 1; under --json also the API's error document.
    const conflict = await saga(['confirm', dropped, '--json'], env);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/^error: (DecisionConflict|OrderClosed): .*CANCELLED/);
    expect(json<{ error: string }>(conflict).error).toMatch(/DecisionConflict|OrderClosed/);
    const automatic = await saga(['confirm', auto], env);
    expect(automatic.code).toBe(1);
    expect(automatic.stderr).toMatch(/^error: NotAwaitingDecision: /);
    expect(automatic.stdout).toBe('');

    // Unknown orders: exit 1 with one line, for every order command.
    for (const command of ['status', 'confirm', 'cancel']) {
      const unknown = await saga([command, `nope-${ids.tag}`, '--json'], env);
      expect(unknown.code, command).toBe(1);
      expect(unknown.stderr, command).toBe(`error: no order nope-${ids.tag}\n`);
      expect(json(unknown), command).toMatchObject({ error: 'OrderNotFound' });
    }

    // The order closed: status reads the database and the saga's result.
    const closed = await saga(['status', held], env);
    expect(closed.stdout).toContain(`order ${held}  CONFIRMED`);
    expect(closed.stdout).toMatch(/decision: confirm/);
    expect(closed.stdout).toMatch(/saga\s+order-\S+ COMPLETED/);
    expect((await ledgerOf(stack.db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(3);
    await assertInvariants(stack.db.pool);
  });

  it('bad usage exits 2 with the command’s usage, before connecting to anything', async () => {
    const nowhere = { ...env, DATABASE_URL: 'postgres://x@127.0.0.1:1/none', TEMPORAL_ADDRESS: '127.0.0.1:1', KAFKA_BROKERS: '127.0.0.1:1' };
    const cases: [string[], RegExp][] = [
      [['status'], /status takes one order ID, got 0/],
      [['status', 'a b'], /order ID "a b": letters, digits/],
      [['list', '--status', 'LOST'], /--status must be one of/],
      [['list', "--customer=x' OR true"], /--customer/],
      [['list', '--limit', '0'], /--limit must be a whole number/],
      [['cancel', 'x', '--reason', 'bad\u0007bell'], /--reason: /],
      [['replay-dlq', '--code', 'Nope'], /--code must be one of/],
      [['replay-dlq', '--since', 'yesterday'], /--since "yesterday"/],
      [['replay-dlq', '--id', 'topic-without-offset'], /--id "topic-without-offset"/],
      [['confirm', 'x', '--frobnicate'], /frobnicate/],
      [['explode'], /unknown command "explode"/],
    ];
    for (const [args, message] of cases) {
      const run = await saga(args, nowhere);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.stderr, args.join(' ')).toContain('usage: npm run saga -- ');
    }
  });

  it('an unreachable PostgreSQL, Temporal or Kafka: one line naming its address, exit 3, no hang, no stack trace', async () => {
    const ids = uniqueIds('down');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    await start(ids, ids.message);
    await stack.result(ids.message);
    const closedPort = await freePort();

    const noDatabase = { ...env, DATABASE_URL: `postgres://app:s3cret-pw@127.0.0.1:${closedPort}/orders` };
    for (const args of [['status', ids.message], ['confirm', `x-${ids.tag}`], ['replay-dlq'], ['reconcile', '--no-temporal']]) {
      const run = await saga(args, noDatabase);
      expect(run.code, args[0]).toBe(3);
      expect(run.stderr, args[0]).toMatch(
        new RegExp(`^error: cannot reach PostgreSQL at 127\\.0\\.0\\.1:${closedPort}/orders \\(DATABASE_URL\\): .*ECONNREFUSED.*\\n$`),
      );
      expect(run.stderr, args[0]).not.toContain('s3cret-pw');
    }

    const noTemporal = { ...env, TEMPORAL_ADDRESS: `127.0.0.1:${closedPort}` };
    for (const args of [['list'], ['confirm', ids.message], ['cancel', ids.message], ['reconcile']]) {
      const run = await saga([...args, '--json'], noTemporal);
      expect(run.code, args[0]).toBe(3);
      expect(run.stderr, args[0]).toMatch(new RegExp(`^error: cannot reach Temporal at 127\\.0\\.0\\.1:${closedPort} \\(TEMPORAL_ADDRESS\\)`));
      expect(run.stderr.split('\n').filter(Boolean), args[0]).toHaveLength(1);
      expect(json(run), args[0]).toMatchObject({ error: 'TemporalUnavailable' });
    }
    // status still shows what PostgreSQL holds, then says what it could not reach.
    const partial = await saga(['status', ids.message], noTemporal);
    expect(partial.code).toBe(3);
    expect(partial.stdout).toContain(`order ${ids.message}  CONFIRMED`);
    expect(partial.stderr).toBe(`error: cannot reach Temporal at 127.0.0.1:${closedPort} (TEMPORAL_ADDRESS); the above is what PostgreSQL holds\n`);
    const unknownWithoutTemporal = await saga(['status', `nope-${ids.tag}`], noTemporal);
    expect(unknownWithoutTemporal.code).toBe(3);
  });

  it('replay-dlq: a dry run changes nothing; --apply starts each saga exactly once, even run twice at once and again', async () => {
    const ids = uniqueIds('dlq');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const topic = `cmds-${randomUUID()}`;
    const dlq = `dlq-${randomUUID()}`;
    await admin.createTopics({ topics: [{ topic }, { topic: dlq }].map((t) => ({ ...t, numPartitions: 1 })), waitForLeaders: true });
    const [fresh, meanwhile] = [`${ids.message}-fresh`, `${ids.message}-meanwhile`];
    const command = (messageId: string) => ({ messageId, customerId: ids.account, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 500 }] });
    const order = (messageId: string) => JSON.stringify(command(messageId));
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [order(fresh), order(meanwhile), '{"messageId": ', JSON.stringify({ messageId: `${ids.message}-bad`, customerId: ids.account, items: [] })].map(
        (value) => ({ key: ids.account, value }),
      ),
    });
    await producer.disconnect();

    // The real intake, with a start that a bug broke: the two good commands are dead-lettered as StartRefused.
    const intake = new OrderIntake({
      kafka,
      pool: stack.db.pool,
      groupId: `g-${randomUUID()}`,
      topic,
      deadLetterTopic: dlq,
      logger: quietLogger,
      startAttempts: 1,
      start: () => Promise.reject(new Error('start broken by a bad deploy')),
    });
    await intake.start();
    try {
      await until('four records dead-lettered', async () => {
        const { rows } = await stack.db.pool.query<{ n: number }>(
          'select count(*)::int as n from dead_letters where source_topic = $1 and produced_at is not null',
          [topic],
        );
        return rows[0]!.n === 4;
      });
    } finally {
      await intake.stop();
    }
    // After the fix, one of them reaches the service another way first.
    await startOrder({ client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue }, command(meanwhile), 'rest');
    const snapshot = async () => ({
      processed: (
        await stack.db.pool.query<{ message_id: string; run_id: string | null; source: string }>(
          'select message_id, run_id, source from processed_messages order by message_id',
        )
      ).rows,
      marks: (
        await stack.db.pool.query<{ source_offset: number; replayed_at: Date | null }>(
          'select source_offset, replayed_at from dead_letters where source_topic = $1 order by source_offset',
          [topic],
        )
      ).rows,
    });
    const before = await snapshot();

    interface Listing {
      applied: boolean;
      replayedBefore: number;
      items: {
        dlqId: string;
        error: string;
        messageId: string | null;
        verdict: { kind: string; error?: string };
        outcome?: { kind: string; runId?: string };
      }[];
    }
    const dry = json<Listing>(await saga(['replay-dlq', '--json'], env));
    expect(dry.applied).toBe(false);
    expect(dry.items.map((i) => [i.dlqId, i.error, i.messageId, i.verdict.kind, i.verdict.error])).toEqual([
      [`${topic}/0/0`, 'StartRefused', fresh, 'starts', undefined],
      [`${topic}/0/1`, 'StartRefused', meanwhile, 'started-before', undefined],
      [`${topic}/0/2`, 'MalformedJson', null, 'invalid', 'MalformedJson'],
      [`${topic}/0/3`, 'ValidationError', null, 'invalid', 'ValidationError'],
    ]);
    const dryText = await saga(['replay-dlq'], env);
    expect(dryText.code).toBe(0);
    expect(dryText.stdout).toContain('dry run, nothing changed: 2 of 4 dead-lettered record(s) would be re-submitted');
    expect(dryText.stdout).toMatch(new RegExp(`${topic}/0/0\\s+StartRefused\\s+\\S+\\s+${fresh}\\s+valid: would start its saga`));
    expect(dryText.stdout).toMatch(/still invalid \(ValidationError\): \/items/);
    expect(await snapshot()).toEqual(before);
    expect(await stack.workflowExists(fresh)).toBe(false);

    // Filters pick records by code, ID, reason and time; none of them changes anything either.
    const ids0 = (args: string[]) => saga(['replay-dlq', '--json', ...args], env).then((r) => json<Listing>(r).items.map((i) => i.dlqId));
    expect(await ids0(['--code', 'StartRefused'])).toEqual([`${topic}/0/0`, `${topic}/0/1`]);
    expect(await ids0(['--id', `${topic}/0/2`, '--id', `${topic}/0/3`])).toEqual([`${topic}/0/2`, `${topic}/0/3`]);
    expect(await ids0(['--reason', 'BAD DEPLOY', '--limit', '1'])).toEqual([`${topic}/0/0`]);
    expect(await ids0(['--since', '1h'])).toHaveLength(4);
    expect(await ids0(['--since', new Date(Date.now() + 60_000).toISOString()])).toEqual([]);

    // Two operators apply at once: one saga for the fresh record, whichever run gets there first; each record recorded once.
    const both = await Promise.all([saga(['replay-dlq', '--apply', '--json'], env), saga(['replay-dlq', '--apply', '--json'], env)]);
    expect(both.map((r) => r.code)).toEqual([1, 1]); // two records cannot be replayed
    const outcomes = both.flatMap((r) => json<Listing>(r).items.map((i) => [i.messageId ?? i.dlqId, i.outcome?.kind]));
    expect(outcomes.filter(([, kind]) => kind === 'started')).toEqual([[fresh, 'started']]);
    expect(outcomes.filter(([id]) => id === meanwhile).every(([, kind]) => kind === 'duplicate')).toBe(true);
    expect(outcomes.filter(([id]) => id === `${topic}/0/2` || id === `${topic}/0/3`).every(([, kind]) => kind === 'skipped')).toBe(true);
    await stack.result(fresh);
    const after = await snapshot();
    expect(after.marks.map((m) => m.replayed_at !== null)).toEqual([true, true, false, false]);
    expect(after.processed.filter((p) => p.message_id === fresh).map((p) => [p.source, typeof p.run_id])).toEqual([['kafka', 'string']]);
    const runs = await stack.client.workflow.count(`WorkflowId = '${workflowIdFor(fresh)}'`);
    expect(runs.count).toBe(1);
    const { rows: recorded } = await stack.db.pool.query<{ source_offset: number; replay_outcome: string }>(
      'select source_offset, replay_outcome from dead_letters where source_topic = $1 and replayed_at is not null order by source_offset',
      [topic],
    );
    // The fresh record's mark is whichever run recorded it first: the one that started it, or the one that collapsed onto it.
    expect(recorded.map((r) => r.source_offset)).toEqual([0, 1]);
    expect(['started', 'duplicate']).toContain(recorded[0]!.replay_outcome);
    expect(recorded[1]!.replay_outcome).toBe('duplicate');

    // A third run offers only what cannot be replayed, and starts nothing.
    const again = await saga(['replay-dlq', '--apply', '--json'], env);
    expect(again.code).toBe(1);
    const third = json<Listing>(again);
    expect(third.replayedBefore).toBe(2);
    expect(third.items.map((i) => [i.dlqId, i.outcome?.kind])).toEqual([
      [`${topic}/0/2`, 'skipped'],
      [`${topic}/0/3`, 'skipped'],
    ]);
    expect(await snapshot()).toEqual(after);
    const human = await saga(['replay-dlq', '--apply'], env);
    expect(human.stdout).toMatch(/^replay-dlq: 0 of 2 dead-lettered record\(s\) re-submitted and recorded\n/);
    expect(human.stdout).toMatch(new RegExp(`${topic}/0/2\\s+MalformedJson\\s+\\S+\\s+-\\s+skipped: still invalid \\(MalformedJson\\)`));
    expect(human.stdout).toContain('2 matching record(s) were replayed before and are not offered again');
    expect(await snapshot()).toEqual(after);
    expect((await ledgerOf(stack.db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(2);
    expect((await stack.client.workflow.count(`WorkflowId = '${workflowIdFor(fresh)}'`)).count).toBe(1);
    await assertInvariants(stack.db.pool);

    // Kafka unreachable while there are records to read: one line naming the brokers, exit 3.
    const closedPort = await freePort();
    const noKafka = await saga(['replay-dlq', '--json'], { ...env, KAFKA_BROKERS: `127.0.0.1:${closedPort}` });
    expect(noKafka.code).toBe(3);
    expect(noKafka.stderr).toMatch(new RegExp(`^error: cannot reach Kafka at 127\\.0\\.0\\.1:${closedPort} \\(KAFKA_BROKERS\\)`));
    expect(json(noKafka)).toMatchObject({ error: 'KafkaUnavailable' });
  });

  it('replay-dlq: a refund refused because its order was not yet confirmed: the dry run says refused now; once the order is confirmed it starts and refunds', async () => {
    const ids = uniqueIds('dlq-refund');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    await start(ids, ids.message, { confirmation: 'manual', cents: 1_000 });
    await awaitingDecision(ids.message);
    const topic = `cmds-${randomUUID()}`;
    const dlq = `dlq-${randomUUID()}`;
    await admin.createTopics({ topics: [{ topic }, { topic: dlq }].map((t) => ({ ...t, numPartitions: 1 })), waitForLeaders: true });
    const refundId = `${ids.tag}-early`;
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: ids.message, value: JSON.stringify({ type: 'refund', refundId, orderId: ids.message, amountCents: 500 }) }],
    });
    await producer.disconnect();
    const deps = { client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue };
    const intake = new OrderIntake({
      ...{ kafka, pool: stack.db.pool, groupId: `g-${randomUUID()}`, topic, deadLetterTopic: dlq, logger: quietLogger },
      start: () => Promise.reject(new Error('no orders on this topic')),
      startRefund: (request) => startRefund(deps, request),
    });
    await intake.start();
    try {
      await until('the refund dead-lettered', async () => {
        const { rows } = await stack.db.pool.query<{ error: string }>('select error from dead_letters where source_topic = $1 and produced_at is not null', [
          topic,
        ]);
        return rows[0]?.error === 'RefundRefused';
      });
    } finally {
      await intake.stop();
    }
    interface Listing {
      items: { dlqId: string; error: string; messageId: string | null; reason: string; verdict: { kind: string }; outcome?: { kind: string } }[];
    }
    const only = ['--id', `${topic}/0/0`];
    const dry = json<Listing>(await saga(['replay-dlq', '--json', ...only], env));
    // The dry run judges it by the rules as they stand: still refused while the order waits.
    expect(dry.items).toMatchObject([{ error: 'RefundRefused', messageId: refundId, verdict: { kind: 'refused' } }]);
    expect(dry.items[0]!.reason).toMatch(/^OrderNotRefundable: /);
    expect((await saga(['replay-dlq', ...only], env)).stdout).toMatch(/valid, but refused now: OrderNotRefundable: .* is PENDING/);

    expect((await saga(['confirm', ids.message], env)).code).toBe(0);
    await stack.result(ids.message);
    expect(json<Listing>(await saga(['replay-dlq', '--json', ...only], env)).items).toMatchObject([{ verdict: { kind: 'starts' } }]);
    const applied = json<Listing>(await saga(['replay-dlq', '--apply', '--json', ...only], env));
    expect(applied.items).toMatchObject([{ messageId: refundId, outcome: { kind: 'started' } }]);
    expect(await stack.client.workflow.getHandle(refundWorkflowIdFor(refundId)).result()).toMatchObject({ state: 'REFUNDED' });
    const again = json<Listing>(await saga(['replay-dlq', '--apply', '--json', ...only], env));
    expect(again.items).toEqual([]);
  });

  it('list shows every kind of saga with its state; status shows an order’s cashback and refunds; refund-status a refund', { timeout: 180_000 }, async () => {
    const ids = uniqueIds('kinds');
    await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 10]] });
    const orderId = ids.message;
    await start(ids, orderId);
    await stack.result(orderId);
    const refundResult = (refundId: string) => stack.client.workflow.getHandle<typeof refundSaga>(refundWorkflowIdFor(refundId)).result();
    const [refunded, rejected] = [`${ids.tag}-damaged`, `${ids.tag}-too-much`];
    await startRefund(
      { client: stack.client, pool: stack.db.pool, taskQueue: stack.taskQueue },
      { refundId: refunded, orderId, amountCents: 1_999, reason: 'one copy arrived damaged' },
    );
    expect(await refundResult(refunded)).toMatchObject({ state: 'REFUNDED' });
    // Started past the intake's cap check, as a race would: the database's cap rejects it.
    await stack.client.workflow.start(refundSaga, {
      taskQueue: stack.taskQueue,
      workflowId: refundWorkflowIdFor(rejected),
      args: [{ refundId: rejected, orderId, amountCents: 3_000, reason: 'the rest, and more' }],
    });
    expect(await refundResult(rejected)).toMatchObject({ state: 'REJECTED' });

    // list: the order and its refunds, each with its kind and state, and the count by kind.
    await until('visibility to list the order and both refunds', async () => (await saga(['list', '--order', orderId], env)).stdout.includes('3 sagas'));
    const listed = await saga(['list', '--order', orderId], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^KIND\s+ID\s+STATUS\s+CUSTOMER\s+REVIEW\s+WORKFLOW\s+STARTED\s+ORDER\n/);
    expect(listed.stdout).toMatch(new RegExp(`^order\\s+${orderId}\\s+CONFIRMED\\s+${ids.account}\\s+-\\s+COMPLETED\\s+\\S+\\s+${orderId}$`, 'm'));
    expect(listed.stdout).toMatch(new RegExp(`^refund\\s+${refunded}\\s+REFUNDED\\s+-\\s+-\\s+COMPLETED\\s+\\S+\\s+${orderId}$`, 'm'));
    expect(listed.stdout).toMatch(new RegExp(`^refund\\s+${rejected}\\s+REJECTED\\s+-\\s+-\\s+COMPLETED\\s+\\S+\\s+${orderId}$`, 'm'));
    expect(listed.stdout).toMatch(/\n3 sagas: 1 order, 2 refunds\n$/);

    interface Listed {
      query: string;
      sagas: { kind: string; id: string; state: string | null; orderId: string | null; workflowId: string; executionStatus: string }[];
    }
    const everything = json<Listed>(await saga(['list', '--json'], env));
    expect(everything.sagas).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'order', id: orderId, state: 'CONFIRMED', orderId, workflowId: workflowIdFor(orderId) }),
        expect.objectContaining({ kind: 'refund', id: refunded, state: 'REFUNDED', orderId, workflowId: refundWorkflowIdFor(refunded) }),
        expect.objectContaining({ kind: 'refund', id: rejected, state: 'REJECTED', orderId, executionStatus: 'COMPLETED' }),
      ]),
    );
    const only = async (args: string[]) => json<Listed>(await saga(['list', '--order', orderId, '--json', ...args], env)).sagas.map((s) => `${s.kind} ${s.id}`);
    expect((await only(['--kind', 'refund'])).sort()).toEqual([`refund ${refunded}`, `refund ${rejected}`].sort());
    expect(await only(['--kind', 'order'])).toEqual([`order ${orderId}`]);
    expect(await only(['--status', 'rejected'])).toEqual([`refund ${rejected}`]);
    expect(await only(['--status', 'CONFIRMED'])).toEqual([`order ${orderId}`]);
    // A state both kinds have is matched on each kind's own attribute.
    const running = json<Listed>(await saga(['list', '--order', orderId, '--status', 'running', '--json'], env));
    expect(running).toEqual({ query: expect.stringContaining(`(OrderStatus = 'RUNNING' OR RefundStatus = 'RUNNING')`) as unknown, sagas: [] });
    expect(await only(['--customer', ids.account])).toEqual([`order ${orderId}`]);
    for (const [args, message] of [
      [['--kind', 'invoice'], /--kind must be one of order, refund/],
      [['--kind', 'refund', '--status', 'CONFIRMED'], /--status CONFIRMED is no state of a refund saga/],
    ] as const) {
      const refused = await saga(['list', ...args], env);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr, args.join(' ')).toMatch(message);
    }

    // status of the order: the cashback its commit paid (and what the refund took back), each refund with its state.
    const text = await saga(['status', orderId], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/\n {2}cashback {7}0\.39 paid, 0\.19 taken back by refunds\n/);
    expect(text.stdout).toMatch(/\n {2}refunds {8}2, 19\.99 refunded\n/);
    expect(text.stdout).toMatch(new RegExp(`\\n {17}${refunded} +REFUNDED  19\\.99  one copy arrived damaged\\n`));
    expect(text.stdout).toMatch(new RegExp(`\\n {17}${rejected}  REJECTED  30\\.00  the rest, and more; rejected: .*would pass what was paid\\n`));
    const status = json<Record<string, unknown>>(await saga(['status', orderId, '--json'], env));
    expect(status).toMatchObject({
      orderId,
      state: 'CONFIRMED',
      cashback: { ledgerKey: `order:${orderId}:reward`, paidCents: 39, takenBackCents: 19 },
      refundedCents: 1_999,
      refundCount: 2,
      refunds: [
        { refundId: refunded, orderId, status: 'REFUNDED', amountCents: 1_999, reason: 'one copy arrived damaged', rejectReason: null },
        {
          refundId: rejected,
          orderId,
          status: 'REJECTED',
          amountCents: 3_000,
          reason: 'the rest, and more',
          rejectReason: expect.stringMatching(/would pass what was paid/) as unknown,
        },
      ],
    });

    // A refund's own status; `status` given a refund's ID points there.
    const refundText = await saga(['refund-status', refunded], env);
    expect(refundText.code).toBe(0);
    expect(refundText.stdout).toMatch(new RegExp(`^refund ${refunded} {2}REFUNDED\\n {2}order {10}${orderId}\\n {2}amount {9}19\\.99\\n`));
    expect(refundText.stdout).toMatch(/\n {2}credited {7}19\.99, cashback taken back 0\.19\n/);
    expect(refundText.stdout).toContain(`http://ui.example:8080/namespaces/default/workflows/refund-${refunded}/`);
    expect(json(await saga(['refund-status', rejected, '--json'], env))).toMatchObject({
      refundId: rejected,
      orderId,
      state: 'REJECTED',
      amountCents: 3_000,
      creditedCents: null,
      rejectReason: expect.stringMatching(/would pass what was paid/) as unknown,
      workflow: { workflowId: refundWorkflowIdFor(rejected), status: 'COMPLETED' },
    });
    const wrongCommand = await saga(['status', refunded], env);
    expect(wrongCommand.code).toBe(1);
    expect(wrongCommand.stderr).toBe(`error: no order ${refunded} (a refund has that ID: see \`refund-status ${refunded}\`)\n`);
    const unknownRefund = await saga(['refund-status', `nope-${ids.tag}`, '--json'], env);
    expect(unknownRefund.code).toBe(1);
    expect(json(unknownRefund)).toMatchObject({ error: 'RefundNotFound' });
  });
});
