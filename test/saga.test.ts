import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { recordConfirmationDecision, selectOrder } from '../db/orders';
import { workflowIdFor, type OrderItem } from '../domain/order';
import { workflowsPath } from '../worker/create-worker';
import type { DecisionRequest, OrderSagaInput, OrderSagaResult } from '../contract/saga';
import {
  cancelSignal,
  checkBackNowUpdate,
  CustomerIdKey,
  decideUpdate,
  NeedsReviewKey,
  OrderIdKey,
  OrderStatusKey,
  resolveUpdate,
  statusQuery,
} from '../contract/saga';
import { orderSaga } from '../workflows/order-saga';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { assertInvariants } from './helpers/invariants';
import { availableOf, balanceOf, ledgerOf, outboxOf, seed, uniqueIds } from './helpers/seed';
import { startTimeSkippingEnv } from './helpers/temporal';
import { quietBundlerLogger } from './helpers/loggers';
import { recordHistory } from './helpers/histories';

describe('orderSaga on the time-skipping server with real PostgreSQL', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let db: TestDatabase;
  let real: Activities;
  let queue = 0;

  beforeAll(async () => {
    [env, bundle, db] = await Promise.all([startTimeSkippingEnv(), bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger }), createTestDatabase()]);
    real = createActivities({ pool: db.pool, rewardBasisPoints: 100 });
  });
  afterAll(async () => {
    await env?.teardown();
    await db?.drop();
  });
  afterEach(async () => assertInvariants(db.pool));

  /** Runs one saga to its end on a fresh worker; `during` acts while it runs (signals, DB writes). */
  async function runSaga(
    input: OrderSagaInput,
    { activities = {}, during }: { activities?: Partial<Activities>; during?: (wfId: string) => Promise<void> } = {},
  ): Promise<OrderSagaResult> {
    const taskQueue = `saga-${++queue}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: { ...real, ...activities },
    });
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(orderSaga, {
        taskQueue,
        workflowId: workflowIdFor(input.messageId),
        args: [input],
      });
      if (during) await during(handle.workflowId);
      const result = await handle.result();
      if (process.env.RECORD_HISTORIES) recordHistory(input.messageId.replace(/-[0-9a-f]{8}$/, ''), await handle.fetchHistory());
      return result;
    });
  }

  async function waitForState(workflowId: string, state: string): Promise<void> {
    const handle = env.client.workflow.getHandle(workflowId);
    for (let i = 0; i < 200; i++) {
      if ((await handle.query(statusQuery)).state === state) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`workflow ${workflowId} never reached ${state}`);
  }

  async function waitForPhase(workflowId: string, phase: string): Promise<OrderSagaResult> {
    const handle = env.client.workflow.getHandle(workflowId);
    for (let i = 0; i < 600; i++) {
      const status = await handle.query(statusQuery);
      if (status.currentStep === phase) return status;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`workflow ${workflowId} never reached ${phase}`);
  }

  const resolution = { resolvedBy: 'ops-anna', note: 'checked the ledger: nothing was debited', resolvedAt: '2026-12-06T10:00:00.000Z' };

  /** Waits until the saga is flagged and waits for review, checks that, then resolves it as an operator would. */
  async function resolveWhenFlagged(workflowId: string): Promise<void> {
    const handle = env.client.workflow.getHandle(workflowId);
    const waiting = await waitForPhase(workflowId, 'review');
    expect(waiting).toMatchObject({ state: 'CANCELLED', needsReview: true });
    const description = await handle.describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.typedSearchAttributes.get(NeedsReviewKey)).toBe(true);
    expect(description.typedSearchAttributes.get(OrderStatusKey)).toBe('CANCELLED');
    for (const bad of [{ ...resolution, note: '' }, { ...resolution, resolvedBy: 'x\u0000' }, { ...resolution, note: 'n'.repeat(501) }, null]) {
      const refused = await handle.executeUpdate(resolveUpdate, { args: [bad as never] }).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
      expect(((refused as WorkflowUpdateFailedError).cause as ApplicationFailure).type).toBe('InvalidResolution');
    }
    const released = await handle.executeUpdate(resolveUpdate, { args: [resolution], updateId: 'resolve' });
    expect(released).toMatchObject({ needsReview: false, resolution });
    // The same update ID again is the same update: answered, not applied twice.
    expect(await handle.executeUpdate(resolveUpdate, { args: [resolution], updateId: 'resolve' })).toMatchObject({ resolution });
  }

  const decide = (workflowId: string, request: DecisionRequest) =>
    env.client.workflow.getHandle(workflowId).executeUpdate(decideUpdate, { args: [request], updateId: `decide-${request.decision}` });

  /** The type of the validator's refusal, or 'accepted'. */
  const refusal = (workflowId: string, request: DecisionRequest) =>
    env.client.workflow
      .getHandle(workflowId)
      .startUpdate(decideUpdate, { args: [request], waitForStage: 'ACCEPTED' })
      // A refusal is a known outcome that result() hands over at once; an accepted decision is still running.
      .then((handle) => Promise.race([handle.result(), new Promise((r) => setTimeout(r, 300))]))
      .then(
        () => 'accepted',
        (err: unknown) => (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure ? (err.cause.type ?? 'untyped') : String(err)),
      );

  const slow =
    <A extends unknown[], R>(work: (...args: A) => Promise<R>, ms = 1_500) =>
    async (...args: A) => {
      await new Promise((r) => setTimeout(r, ms));
      return work(...args);
    };

  function order(ids: ReturnType<typeof uniqueIds>, items: OrderItem[], extra: Partial<OrderSagaInput> = {}): OrderSagaInput {
    return { messageId: ids.message, customerId: ids.account, items, ...extra };
  }

  it('auto mode: debit, stock, ledger, 1% reward and the outbox event are exact', async () => {
    const ids = uniqueIds('happy');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 2, unitPriceCents: 1_999 }]));

    expect(result).toMatchObject({ state: 'CONFIRMED', stepsApplied: ['reserve', 'debit'], compensationsDone: [], checkBacksUsed: 0 });
    expect(await balanceOf(db.pool, ids.account)).toBe(10_000 - 3_998 + 39);
    expect(await availableOf(db.pool, ids.sku)).toBe(3);
    expect(await ledgerOf(db.pool, ids.account)).toEqual([
      { kind: 'debit', amount_cents: -3_998, idempotency_key: `order:${ids.message}:debit` },
      { kind: 'reward', amount_cents: 39, idempotency_key: `order:${ids.message}:reward` },
    ]);
    const events = await outboxOf(db.pool, ids.message);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ event_type: 'order.confirmed', key: ids.message, topic: 'orders.events' });
    expect(events[0]!.payload).toMatchObject({ orderId: ids.message, totalCents: 3_998, rewardCents: 39, status: 'CONFIRMED' });
    expect((await selectOrder(db.pool, ids.message))?.status).toBe('CONFIRMED');
    const description = await env.client.workflow.getHandle(workflowIdFor(ids.message)).describe();
    expect(description.typedSearchAttributes.get(OrderStatusKey)).toBe('CONFIRMED');
    expect(description.typedSearchAttributes.get(OrderIdKey)).toBe(ids.message);
    expect(description.typedSearchAttributes.get(CustomerIdKey)).toBe(ids.account);
    expect(description.typedSearchAttributes.get(NeedsReviewKey)).toBe(false);
  });

  it('out of stock: nothing debited, nothing left reserved', async () => {
    const ids = uniqueIds('nostock');
    await seed(db.pool, {
      account: [ids.account, 10_000],
      skus: [
        [ids.sku, 1],
        [`${ids.sku}-b`, 9],
      ],
    });
    const result = await runSaga(
      order(ids, [
        { sku: `${ids.sku}-b`, quantity: 3, unitPriceCents: 100 },
        { sku: ids.sku, quantity: 2, unitPriceCents: 100 },
      ]),
    );
    expect(result.state).toBe('CANCELLED');
    expect(result.reason).toMatch(/^OutOfStock: /);
    expect(result.compensationsDone).toEqual([{ step: 'reserve', outcome: 'fenced' }]);
    expect(await balanceOf(db.pool, ids.account)).toBe(10_000);
    expect(await ledgerOf(db.pool, ids.account)).toEqual([]);
    expect(await availableOf(db.pool, ids.sku)).toBe(1);
    expect(await availableOf(db.pool, `${ids.sku}-b`)).toBe(9);
    const events = await outboxOf(db.pool, ids.message);
    expect(events.map((e) => e.event_type)).toEqual(['order.cancelled']);
  });

  it('insufficient funds: the reserved stock is released', async () => {
    const ids = uniqueIds('poor');
    await seed(db.pool, { account: [ids.account, 500], skus: [[ids.sku, 4]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 2, unitPriceCents: 300 }]));
    expect(result.state).toBe('CANCELLED');
    expect(result.reason).toMatch(/^InsufficientFunds: /);
    expect(result.compensationsDone).toEqual([
      { step: 'debit', outcome: 'fenced' },
      { step: 'reserve', outcome: 'compensated' },
    ]);
    expect(await availableOf(db.pool, ids.sku)).toBe(4);
    expect(await balanceOf(db.pool, ids.account)).toBe(500);
  });

  it('unknown account: cancelled, stock released', async () => {
    const ids = uniqueIds('ghost');
    await seed(db.pool, { skus: [[ids.sku, 4]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 300 }]));
    expect(result.reason).toMatch(/^UnknownAccount: /);
    expect(await availableOf(db.pool, ids.sku)).toBe(4);
  });

  it('manual mode: a 10-minute window expires under time skipping in seconds, and compensates', async () => {
    const ids = uniqueIds('expire');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const started = Date.now();
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 250 }], { confirmation: 'manual', confirmWithin: '10 minutes' }));
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(result).toMatchObject({ state: 'CANCELLED', reason: 'confirmation window of 10 minutes expired' });
    expect(result.compensationsDone).toEqual([
      { step: 'debit', outcome: 'compensated' },
      { step: 'reserve', outcome: 'compensated' },
    ]);
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
    expect(await availableOf(db.pool, ids.sku)).toBe(2);
    expect(await ledgerOf(db.pool, ids.account)).toEqual([
      { kind: 'debit', amount_cents: -250, idempotency_key: `order:${ids.message}:debit` },
      { kind: 'refund', amount_cents: 250, idempotency_key: `order:${ids.message}:refund` },
    ]);
  });

  it('manual mode: confirm by update answers once committed; the same confirm again gets the same answer', async () => {
    const ids = uniqueIds('update-confirm');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const outcomes: unknown[] = [];
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 400 }], { confirmation: 'manual' }), {
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        outcomes.push(await decide(workflowId, { decision: 'confirm' }));
        outcomes.push(await decide(workflowId, { decision: 'confirm' }));
      },
    });
    expect(result.state).toBe('CONFIRMED');
    expect(outcomes).toEqual([
      { orderId: ids.message, decision: 'confirm', state: 'CONFIRMED' },
      { orderId: ids.message, decision: 'confirm', state: 'CONFIRMED' },
    ]);
    expect((await selectOrder(db.pool, ids.message))?.confirmation_decision).toBe('confirm');
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000 - 400 + 4);
    expect(await availableOf(db.pool, ids.sku)).toBe(1);
  });

  it('manual mode: the decision is accepted before the local steps that settle and commit it finish (a slow database does not hold the answer)', async () => {
    const ids = uniqueIds('update-accepted');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    let settled = false;
    let settledWhenAccepted: boolean | undefined;
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 400 }], { confirmation: 'manual' }), {
      activities: {
        settleConfirmation: async (args) => {
          await new Promise((r) => setTimeout(r, 2_000));
          const stored = await real.settleConfirmation(args);
          settled = true;
          return stored;
        },
      },
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        const accepted = await env.client.workflow
          .getHandle(workflowId)
          .startUpdate(decideUpdate, { args: [{ decision: 'confirm' }], updateId: 'decide-confirm', waitForStage: 'ACCEPTED' });
        settledWhenAccepted = settled;
        expect(await accepted.result()).toMatchObject({ state: 'CONFIRMED' });
      },
    });
    expect(settledWhenAccepted).toBe(false);
    expect(result.state).toBe('CONFIRMED');
  });

  it('manual mode: a decision sent before the saga waits is taken when it gets there', async () => {
    const ids = uniqueIds('update-early');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    let outcome: unknown;
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 400 }], { confirmation: 'manual' }), {
      activities: { reserveStock: slow(real.reserveStock, 500) },
      during: async (workflowId) => {
        outcome = await decide(workflowId, { decision: 'confirm' });
      },
    });
    expect(result.state).toBe('CONFIRMED');
    expect(outcome).toEqual({ orderId: ids.message, decision: 'confirm', state: 'CONFIRMED' });
  });

  it('the validator refuses what the saga is not waiting for, and nothing changes', async () => {
    const auto = uniqueIds('update-auto');
    await seed(db.pool, { account: [auto.account, 1_000], skus: [[auto.sku, 2]] });
    const refused: Record<string, string> = {};
    const autoResult = await runSaga(order(auto, [{ sku: auto.sku, quantity: 1, unitPriceCents: 100 }]), {
      activities: { reserveStock: slow(real.reserveStock) },
      during: async (workflowId) => {
        refused.auto = await refusal(workflowId, { decision: 'cancel' });
      },
    });
    expect(autoResult.state).toBe('CONFIRMED');

    const manual = uniqueIds('update-refused');
    await seed(db.pool, { account: [manual.account, 1_000], skus: [[manual.sku, 2]] });
    const manualResult = await runSaga(order(manual, [{ sku: manual.sku, quantity: 1, unitPriceCents: 100 }], { confirmation: 'manual' }), {
      activities: { refundDebit: slow(real.refundDebit) },
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        refused.badDecision = await refusal(workflowId, { decision: 'maybe' as 'confirm' });
        refused.nulReason = await refusal(workflowId, { decision: 'cancel', reason: 'x\u0000' });
        refused.longReason = await refusal(workflowId, { decision: 'cancel', reason: 'x'.repeat(501) });
        refused.firstCancel = await refusal(workflowId, { decision: 'cancel', reason: 'changed my mind' });
        refused.thenConfirm = await refusal(workflowId, { decision: 'confirm' });
        refused.cancelAgain = await refusal(workflowId, { decision: 'cancel' });
      },
    });
    expect(refused).toEqual({
      auto: 'NotAwaitingDecision',
      badDecision: 'InvalidDecision',
      nulReason: 'InvalidDecision',
      longReason: 'InvalidDecision',
      firstCancel: 'accepted',
      thenConfirm: 'DecisionConflict',
      cancelAgain: 'accepted',
    });
    expect(manualResult).toMatchObject({ state: 'CANCELLED', reason: 'cancelled: changed my mind' });
    expect(await balanceOf(db.pool, manual.account)).toBe(1_000);
  });

  it('manual mode: once the window has expired a confirm is refused (time driven explicitly: it does not skip during an update)', async () => {
    const ids = uniqueIds('update-late');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    let late = '';
    let releaseRefund!: () => void;
    const refundHeld = new Promise<void>((resolve) => (releaseRefund = resolve));
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], { confirmation: 'manual', confirmWithin: '2 minutes' }), {
      activities: { refundDebit: async (args) => refundHeld.then(() => real.refundDebit(args)) },
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        // Past the window by a second: a running activity stops the test server skipping time, so more would pass in real time.
        await env.sleep('121 seconds');
        await waitForState(workflowId, 'COMPENSATING');
        late = await refusal(workflowId, { decision: 'confirm' });
        releaseRefund();
      },
    });
    expect(late).toBe('NotAwaitingDecision');
    expect(result).toMatchObject({ state: 'CANCELLED', reason: 'confirmation window of 2 minutes expired' });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
  });

  it('manual mode: cancel during the window refunds and releases', async () => {
    const ids = uniqueIds('cancel');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 2, unitPriceCents: 100 }], { confirmation: 'manual' }), {
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        expect(await decide(workflowId, { decision: 'cancel', reason: 'customer changed their mind' })).toEqual({
          orderId: ids.message,
          decision: 'cancel',
          state: 'CANCELLED',
          reason: 'cancelled: customer changed their mind',
        });
      },
    });
    expect(result).toMatchObject({ state: 'CANCELLED', reason: 'cancelled: customer changed their mind' });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
    expect(await availableOf(db.pool, ids.sku)).toBe(2);
    expect((await selectOrder(db.pool, ids.message))?.cancel_reason).toBe('cancelled: customer changed their mind');
  });

  it('crash after commit (C3): the debit commits, the activity throws, the retry is a no-op', async () => {
    const ids = uniqueIds('crash');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    let calls = 0;
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }]), {
      activities: {
        debitAccount: async (args) => {
          const outcome = await real.debitAccount(args);
          if (++calls === 1) throw new Error('worker died before reporting the result');
          return outcome;
        },
      },
    });
    expect(calls).toBe(2);
    expect(result).toMatchObject({ state: 'CONFIRMED', checkBacksUsed: 0 });
    expect((await ledgerOf(db.pool, ids.account)).filter((e) => e.kind === 'debit')).toHaveLength(1);
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000 - 100 + 1);
  });

  it('in doubt but applied: the check-back finds the step and the saga goes on', async () => {
    const ids = uniqueIds('doubt-yes');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }]), {
      activities: {
        debitAccount: async (args) => {
          await real.debitAccount(args);
          throw ApplicationFailure.retryable('response lost', 'Timeout');
        },
      },
    });
    expect(result).toMatchObject({ state: 'CONFIRMED', stepsApplied: ['reserve', 'debit'], checkBacksUsed: 1 });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000 - 100 + 1);
  });

  it('in doubt and not applied: the check-back fences the step as it answers, and the saga compensates', async () => {
    const ids = uniqueIds('doubt-no');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }]), {
      activities: {
        debitAccount: () => Promise.reject(ApplicationFailure.retryable('database timed out', 'Timeout')),
      },
    });
    expect(result.state).toBe('CANCELLED');
    expect(result.reason).toMatch(/^debit did not apply/);
    expect(result.compensationsDone).toEqual([
      { step: 'debit', outcome: 'already-fenced' },
      { step: 'reserve', outcome: 'compensated' },
    ]);
    // The original action, arriving late, meets the fence.
    await expect(real.debitAccount({ orderId: ids.message, accountId: ids.account, amountCents: 100 })).rejects.toMatchObject({
      type: 'StepFenced',
    });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
  });

  it('still unknown after the last check-back: compensates and flags the order for review, never drops it', async () => {
    const ids = uniqueIds('doubt-unknown');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    let checks = 0;
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], { maxCheckBacks: 4, checkBackInterval: '1 second' }), {
      activities: {
        debitAccount: () => Promise.reject(ApplicationFailure.retryable('database timed out', 'Timeout')),
        checkStep: () => {
          checks++;
          return Promise.reject(new Error('status store unreachable'));
        },
      },
      // Not while the result is awaited: the time-skipping server would skip a saga waiting for a person to its timeout.
      during: resolveWhenFlagged,
    });
    // Compensated and flagged, then held open until the operator's resolution released it.
    expect(result).toMatchObject({
      state: 'CANCELLED',
      checkBacksUsed: 4,
      needsReview: false,
      reviewReason: 'debit in doubt after 4 check-backs',
      resolution,
      currentStep: 'done',
    });
    expect(checks).toBe(4 * 2); // two attempts per check-back (the checkBack profile)
    const stored = await selectOrder(db.pool, ids.message);
    expect(stored).toMatchObject({ status: 'CANCELLED', needs_review: true, review_reason: 'debit in doubt after 4 check-backs' });
    const events = await outboxOf(db.pool, ids.message);
    expect(events[0]!.payload).toMatchObject({ needsReview: true });
    const description = await env.client.workflow.getHandle(workflowIdFor(ids.message)).describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.typedSearchAttributes.get(NeedsReviewKey)).toBe(false);
    expect(description.typedSearchAttributes.get(OrderStatusKey)).toBe('CANCELLED');
  });

  it('a step in doubt checks back at once when an operator asks, instead of after its interval', async () => {
    const ids = uniqueIds('check-now');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    let storeFixed = false;
    const outcome = runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], { maxCheckBacks: 3, checkBackInterval: '6 hours' }), {
      activities: {
        // The debit commits but its reply is lost; the status store is down until the operator fixes it.
        debitAccount: async (args) => {
          await real.debitAccount(args);
          throw ApplicationFailure.retryable('connection reset after commit', 'Timeout');
        },
        checkStep: (args) => (storeFixed ? real.checkStep(args) : Promise.reject(new Error('status store unreachable'))),
      },
      during: async (workflowId) => {
        const handle = env.client.workflow.getHandle(workflowId);
        let paused;
        for (let i = 0; i < 600 && !paused?.nextCheckBackAt; i++) {
          await new Promise((r) => setTimeout(r, 50));
          paused = await handle.query(statusQuery);
        }
        expect(paused).toMatchObject({ currentStep: 'debit', checkBacksUsed: 1, nextCheckBackAt: expect.any(String) as string });
        storeFixed = true;
        // Time does not skip here (no result is awaited yet): only the update can end the six-hour wait.
        expect(await handle.executeUpdate(checkBackNowUpdate)).toEqual({ orderId: ids.message, step: 'debit', state: 'applied', checkBacksUsed: 2 });
      },
    });
    const result = await outcome;
    expect(result).toMatchObject({ state: 'CONFIRMED', checkBacksUsed: 2, stepsApplied: ['reserve', 'debit'], needsReview: false });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000 - 100 + 1);
  });

  it('check-back-now and resolve are refused while the saga waits for a decision, not for a check-back or a person', async () => {
    const ids = uniqueIds('operator-refused');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], { confirmation: 'manual' }), {
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        const handle = env.client.workflow.getHandle(workflowId);
        const typeOf = (err: unknown) => ((err as WorkflowUpdateFailedError).cause as ApplicationFailure).type;
        expect(typeOf(await handle.executeUpdate(checkBackNowUpdate).catch((err: unknown) => err))).toBe('NotCheckingBack');
        expect(typeOf(await handle.executeUpdate(resolveUpdate, { args: [resolution] }).catch((err: unknown) => err))).toBe('NotAwaitingReview');
        await decide(workflowId, { decision: 'confirm' });
      },
    });
    expect(result).toMatchObject({ state: 'CONFIRMED', needsReview: false });
    expect(result.resolution).toBeUndefined();
  });

  it('auto mode: a cancel stored by the API whose signal was lost stops the commit', async () => {
    const ids = uniqueIds('stored-cancel');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }]), {
      activities: {
        debitAccount: async (args) => {
          await recordConfirmationDecision(db.pool, { id: args.orderId, decision: 'cancel' });
          return real.debitAccount(args);
        },
      },
    });
    expect(result).toMatchObject({ state: 'CANCELLED', reason: 'cancelled by request' });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
    expect(await availableOf(db.pool, ids.sku)).toBe(2);
  });

  it('manual mode: the window expiring stores "cancel", so a late confirm cannot win afterwards', async () => {
    const ids = uniqueIds('late-confirm');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], { confirmation: 'manual', confirmWithin: '2 minutes' }));
    expect(result.state).toBe('CANCELLED');
    expect((await selectOrder(db.pool, ids.message))?.confirmation_decision).toBe('cancel');
    expect(await recordConfirmationDecision(db.pool, { id: ids.message, decision: 'confirm' })).toBeUndefined();
  });

  it('a workflow cancel while the commit is in flight does not refund a confirmed order', async () => {
    const ids = uniqueIds('cancel-commit');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }]), {
      activities: {
        commitOrder: async (args) => {
          await env.client.workflow.getHandle(workflowIdFor(args.orderId)).cancel();
          await new Promise((r) => setTimeout(r, 300));
          return real.commitOrder(args);
        },
      },
    });
    expect(result.state).toBe('CONFIRMED');
    expect((await selectOrder(db.pool, ids.message))?.status).toBe('CONFIRMED');
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000 - 100 + 1);
    expect((await ledgerOf(db.pool, ids.account)).map((e) => e.kind)).toEqual(['debit', 'reward']);
  });

  it('manual mode: a workflow cancel while the confirmed commit is in flight refunds nothing', async () => {
    const ids = uniqueIds('confirm-cancel');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 200 }], { confirmation: 'manual' }), {
      activities: {
        commitOrder: async (args) => {
          await env.client.workflow.getHandle(workflowIdFor(args.orderId)).cancel();
          await new Promise((r) => setTimeout(r, 300));
          return real.commitOrder(args);
        },
      },
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        await decide(workflowId, { decision: 'confirm' });
      },
    });
    expect(result).toMatchObject({ state: 'CONFIRMED', compensationsDone: [] });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000 - 200 + 2);
    expect((await ledgerOf(db.pool, ids.account)).map((e) => e.kind)).toEqual(['debit', 'reward']);
    expect(await availableOf(db.pool, ids.sku)).toBe(1);
  });

  it('manual mode: a workflow cancel while the saga waits stores "cancel" and compensates', async () => {
    const ids = uniqueIds('wf-cancel');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 200 }], { confirmation: 'manual' }), {
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        await env.client.workflow.getHandle(workflowId).cancel();
      },
    });
    expect(result).toMatchObject({ state: 'CANCELLED', reason: 'saga cancelled' });
    expect(result.compensationsDone.map((c) => c.outcome)).toEqual(['compensated', 'compensated']);
    expect((await selectOrder(db.pool, ids.message))?.confirmation_decision).toBe('cancel');
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
    expect(await availableOf(db.pool, ids.sku)).toBe(2);
  });

  it('auto mode runs its steps as local activities: one workflow task, nothing scheduled on the server', async () => {
    const ids = uniqueIds('local');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    expect((await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }]))).state).toBe('CONFIRMED');
    const { events } = await env.client.workflow.getHandle(workflowIdFor(ids.message)).fetchHistory();
    expect(events!.filter((e) => e.activityTaskScheduledEventAttributes)).toHaveLength(0);
    expect(events!.filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
    const markers = events!.map((e) => e.markerRecordedEventAttributes?.markerName).filter(Boolean);
    expect(markers).toEqual(['core_patch', 'core_local_activity', 'core_local_activity', 'core_local_activity', 'core_local_activity', 'core_local_activity']);
  });

  it('a compensation that fails transiently twice is retried until done', async () => {
    const ids = uniqueIds('flaky-refund');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    let refundCalls = 0;
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 300 }], { confirmation: 'manual', confirmWithin: '1 minute' }), {
      activities: {
        refundDebit: async (args) => {
          if (++refundCalls <= 2) throw new Error('connection reset');
          return real.refundDebit(args);
        },
      },
    });
    expect(refundCalls).toBe(3);
    expect(result.compensationsDone).toEqual([
      { step: 'debit', outcome: 'compensated' },
      { step: 'reserve', outcome: 'compensated' },
    ]);
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
  });

  it.each([
    ['NUL', 'x\u0000'],
    ['a lone surrogate', 'x\ud800'],
  ])('a cancel reason with %s that reaches the saga still ends the order, flagged for review', async (_name, reason) => {
    const ids = uniqueIds('poison-reason');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], { confirmation: 'manual' }), {
      during: async (workflowId) => {
        await waitForState(workflowId, 'AWAITING_CONFIRMATION');
        // The pre-S10 signal, straight to Temporal past every validation: the saga must survive what PostgreSQL refuses.
        await env.client.workflow.getHandle(workflowId).signal(cancelSignal, { reason });
        await resolveWhenFlagged(workflowId);
      },
    });
    expect(result).toMatchObject({
      state: 'CANCELLED',
      needsReview: false,
      resolution,
      reviewReason: expect.stringMatching(/^data error while cancelling/) as string,
    });
    const stored = await selectOrder(db.pool, ids.message);
    expect(stored).toMatchObject({ status: 'CANCELLED', needs_review: true });
    expect(stored!.cancel_reason).toBe('cancelled: x\ufffd');
    expect((await outboxOf(db.pool, ids.message)).map((e) => e.event_type)).toEqual(['order.cancelled']);
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
    expect(await availableOf(db.pool, ids.sku)).toBe(2);
    const description = await env.client.workflow.getHandle(workflowIdFor(ids.message)).describe();
    expect(description.typedSearchAttributes.get(NeedsReviewKey)).toBe(false);
  });

  it('the longest manual window the API accepts (7 days) expires with a bounded history', async () => {
    const ids = uniqueIds('week');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 2]] });
    const result = await runSaga(order(ids, [{ sku: ids.sku, quantity: 1, unitPriceCents: 100 }], { confirmation: 'manual', confirmWithin: '168 hours' }));
    expect(result).toMatchObject({ state: 'CANCELLED', reason: 'confirmation window of 168 hours expired' });
    const history = await env.client.workflow.getHandle(workflowIdFor(ids.message)).fetchHistory();
    const timers = history.events!.filter((e) => e.timerStartedEventAttributes).length;
    // Since S10 the window is one timer; before it, check-backs doubling to an hour took 174 (S8), and a fixed minute 10,080.
    expect(timers).toBe(1);
    expect(history.events!.length).toBeLessThan(40);
  });
});
