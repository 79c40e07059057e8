import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../activities';
import { conflictStats } from '../db/optimistic-retry';
import { selectStep } from '../db/steps';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { assertInvariants } from './helpers/invariants';
import { runtimeLogger } from './helpers/loggers';
import { availableOf, balanceOf, ledgerOf, outboxOf, seed, uniqueIds } from './helpers/seed';
import { temporalLogger } from '../worker/runtime';

/** Each activity runs in an activity context, as on a worker: they log through Temporal's `log`. */
function inActivityContext(activities: Activities): Activities {
  const logger = temporalLogger(runtimeLogger);
  return Object.fromEntries(
    Object.entries(activities).map(([activityType, fn]) => {
      const env = new MockActivityEnvironment({ activityType }, { logger });
      return [activityType, (...args: unknown[]) => env.run(fn as (...a: unknown[]) => Promise<unknown>, ...args)];
    }),
  ) as Activities;
}

describe('billing activities on real PostgreSQL', () => {
  let db: TestDatabase;
  let acts: Activities;

  beforeAll(async () => {
    db = await createTestDatabase();
    acts = inActivityContext(createActivities({ pool: db.pool, rewardBasisPoints: 100 }));
  });
  afterAll(async () => db?.drop());
  // Orders here are driven step by step, so some are deliberately left PENDING.
  afterEach(async () => assertInvariants(db.pool, { allowPending: true }));

  async function openOrder(ids: ReturnType<typeof uniqueIds>, orderId: string, quantity: number, unitPriceCents: number) {
    return acts.openOrder({ orderId, customerId: ids.account, items: [{ sku: ids.sku, quantity, unitPriceCents }], confirmation: 'auto' });
  }

  it('the same activity run twice with the same key has one effect', async () => {
    const ids = uniqueIds('twice');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 5]] });
    expect((await openOrder(ids, ids.message, 2, 150)).created).toBe(true);
    expect((await openOrder(ids, ids.message, 2, 150)).created).toBe(false);
    const items = [{ sku: ids.sku, quantity: 2, unitPriceCents: 150 }];
    expect(await acts.reserveStock({ orderId: ids.message, items })).toBe('applied');
    expect(await acts.reserveStock({ orderId: ids.message, items })).toBe('already-applied');
    const debit = { orderId: ids.message, accountId: ids.account, amountCents: 300 };
    expect(await acts.debitAccount(debit)).toBe('applied');
    expect(await acts.debitAccount(debit)).toBe('already-applied');
    expect(await acts.commitOrder({ orderId: ids.message })).toEqual({ rewardCents: 3, alreadyCommitted: false });
    expect(await acts.commitOrder({ orderId: ids.message })).toEqual({ rewardCents: 0, alreadyCommitted: true });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000 - 300 + 3);
    expect(await availableOf(db.pool, ids.sku)).toBe(3);
    expect((await ledgerOf(db.pool, ids.account)).map((e) => e.kind)).toEqual(['debit', 'reward']);
    expect(await outboxOf(db.pool, ids.message)).toHaveLength(1);
  });

  it('attempts of one step overlapping (C7: an attempt timed out and retried while it still runs): one effect, every attempt answers', async () => {
    const ids = uniqueIds('overlap');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 50]] });
    const attempts = <T>(n: number, run: () => Promise<T>) => Promise.all(Array.from({ length: n }, run));
    const created = await attempts(8, () => openOrder(ids, ids.message, 3, 700));
    expect(created.filter((c) => c.created)).toHaveLength(1);
    const items = [{ sku: ids.sku, quantity: 3, unitPriceCents: 700 }];
    expect((await attempts(8, () => acts.reserveStock({ orderId: ids.message, items }))).sort()).toEqual([
      ...Array<string>(7).fill('already-applied'),
      'applied',
    ]);
    const debit = { orderId: ids.message, accountId: ids.account, amountCents: 2_100 };
    expect((await attempts(8, () => acts.debitAccount(debit))).sort()).toEqual([...Array<string>(7).fill('already-applied'), 'applied']);
    const commits = await attempts(8, () => acts.commitOrder({ orderId: ids.message }));
    expect(commits.filter((c) => !c.alreadyCommitted)).toEqual([{ rewardCents: 21, alreadyCommitted: false }]);
    expect(await balanceOf(db.pool, ids.account)).toBe(10_000 - 2_100 + 21);
    expect(await availableOf(db.pool, ids.sku)).toBe(47);
    expect((await ledgerOf(db.pool, ids.account)).map((e) => e.kind)).toEqual(['debit', 'reward']);
    expect(await outboxOf(db.pool, ids.message)).toHaveLength(1);
  });

  it('20 concurrent orders on one account: conflicts are retried, no update is lost', async () => {
    const ids = uniqueIds('race');
    await seed(db.pool, { account: [ids.account, 100_000] });
    const before = conflictStats.retried;
    const amounts = Array.from({ length: 20 }, (_, i) => 100 + i);
    const outcomes = await Promise.all(
      amounts.map((amountCents, i) => acts.debitAccount({ orderId: `${ids.message}-${i}`, accountId: ids.account, amountCents })),
    );
    expect(outcomes).toEqual(amounts.map(() => 'applied'));
    expect(conflictStats.retried - before).toBeGreaterThan(0);
    const total = amounts.reduce((a, b) => a + b, 0);
    expect(await balanceOf(db.pool, ids.account)).toBe(100_000 - total);
    const { rows } = await db.pool.query<{ version: number }>('select version from accounts where id = $1', [ids.account]);
    expect(rows[0]!.version).toBe(20);
    expect(await ledgerOf(db.pool, ids.account)).toHaveLength(20);
  });

  it('concurrent reservations never oversell a SKU', async () => {
    const ids = uniqueIds('oversell');
    await seed(db.pool, { skus: [[ids.sku, 7]] });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        acts.reserveStock({ orderId: `${ids.message}-${i}`, items: [{ sku: ids.sku, quantity: 1 }].map((x) => ({ ...x, unitPriceCents: 1 })) }),
      ),
    );
    const applied = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(applied).toHaveLength(7);
    expect(refused.map((r) => (r.reason as { type?: string }).type)).toEqual(Array(5).fill('OutOfStock'));
    expect(await availableOf(db.pool, ids.sku)).toBe(0);
  });

  it('check-back reads the truth: applied vs not applied', async () => {
    const ids = uniqueIds('check');
    await seed(db.pool, { account: [ids.account, 1_000] });
    await acts.debitAccount({ orderId: `${ids.message}-a`, accountId: ids.account, amountCents: 10 });
    expect(await acts.checkStep({ orderId: `${ids.message}-a`, step: 'debit' })).toBe('applied');
    expect(await acts.checkStep({ orderId: `${ids.message}-b`, step: 'debit' })).toBe('not-applied');
    // Its answer is final: the step is fenced, so the attempt still in flight cannot apply after it.
    await expect(acts.debitAccount({ orderId: `${ids.message}-b`, accountId: ids.account, amountCents: 10 })).rejects.toMatchObject({ type: 'StepFenced' });
    expect(await acts.checkStep({ orderId: `${ids.message}-b`, step: 'debit' })).toBe('fenced');
    await acts.refundDebit({ orderId: `${ids.message}-a` });
    expect(await acts.checkStep({ orderId: `${ids.message}-a`, step: 'debit' })).toBe('compensated');
  });

  it('empty rollback records a fence and changes nothing; the late action is refused (S2, S3)', async () => {
    const ids = uniqueIds('fence');
    await seed(db.pool, { account: [ids.account, 1_000], skus: [[ids.sku, 3]] });
    expect(await acts.refundDebit({ orderId: ids.message })).toBe('fenced');
    expect(await acts.releaseStock({ orderId: ids.message })).toBe('fenced');
    expect(await acts.refundDebit({ orderId: ids.message })).toBe('already-fenced');
    expect(await ledgerOf(db.pool, ids.account)).toEqual([]);
    expect(await availableOf(db.pool, ids.sku)).toBe(3);

    await expect(acts.debitAccount({ orderId: ids.message, accountId: ids.account, amountCents: 50 })).rejects.toMatchObject({
      type: 'StepFenced',
      nonRetryable: true,
    });
    await expect(acts.reserveStock({ orderId: ids.message, items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 50 }] })).rejects.toMatchObject({
      type: 'StepFenced',
    });
    expect(await balanceOf(db.pool, ids.account)).toBe(1_000);
    expect(await availableOf(db.pool, ids.sku)).toBe(3);
    expect((await selectStep(db.pool, ids.message, 'debit'))?.state).toBe('fenced');
  });

  it('an action racing its own compensation ends consistent either way', async () => {
    const ids = uniqueIds('duel');
    await seed(db.pool, { account: [ids.account, 10_000] });
    for (let i = 0; i < 15; i++) {
      const orderId = `${ids.message}-${i}`;
      const [debit, refund] = await Promise.allSettled([
        acts.debitAccount({ orderId, accountId: ids.account, amountCents: 100 }),
        acts.refundDebit({ orderId }),
      ]);
      const state = (await selectStep(db.pool, orderId, 'debit'))?.state;
      if (refund.status === 'fulfilled' && refund.value === 'fenced') {
        expect(debit).toMatchObject({ status: 'rejected', reason: { type: 'StepFenced' } });
        expect(state).toBe('fenced');
      } else {
        expect(debit).toMatchObject({ status: 'fulfilled', value: 'applied' });
        expect(refund).toMatchObject({ status: 'fulfilled', value: 'compensated' });
        expect(state).toBe('compensated');
      }
    }
    expect(await balanceOf(db.pool, ids.account)).toBe(10_000);
  });

  it('business failures are typed and non-retryable', async () => {
    const ids = uniqueIds('typed');
    await seed(db.pool, { account: [ids.account, 10], skus: [[ids.sku, 1]] });
    await expect(acts.debitAccount({ orderId: `${ids.message}-1`, accountId: ids.account, amountCents: 11 })).rejects.toMatchObject({
      type: 'InsufficientFunds',
      nonRetryable: true,
    });
    await expect(acts.debitAccount({ orderId: `${ids.message}-2`, accountId: 'nobody', amountCents: 1 })).rejects.toMatchObject({
      type: 'UnknownAccount',
      nonRetryable: true,
    });
    await expect(acts.reserveStock({ orderId: `${ids.message}-3`, items: [{ sku: 'no-such-sku', quantity: 1, unitPriceCents: 1 }] })).rejects.toMatchObject({
      type: 'UnknownSku',
      nonRetryable: true,
    });
    await expect(acts.debitAccount({ orderId: `${ids.message}-4`, accountId: ids.account, amountCents: 1.5 })).rejects.toMatchObject({ type: 'InvalidOrder' });
    expect(await balanceOf(db.pool, ids.account)).toBe(10);
  });

  it('a refund saga started outside the intake with an ID or amount the contract refuses: refused, and nothing stored', async () => {
    const ids = uniqueIds('odd-refund');
    await seed(db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
    await openOrder(ids, ids.message, 1, 1_000);
    const refused = [
      { refundId: `${ids.message} r`, amountCents: 100 },
      { refundId: '..', amountCents: 100 },
      { refundId: `${ids.message}-r1`, amountCents: 1.5 },
      { refundId: `${ids.message}-r2`, amountCents: 0 },
    ];
    for (const r of refused) {
      await expect(acts.creditRefund({ ...r, orderId: ids.message }), r.refundId).rejects.toMatchObject({ type: 'InvalidRefund', nonRetryable: true });
      // Its saga's last write still ends it, without a row the contract would refuse.
      expect(await acts.rejectRefund({ ...r, orderId: ids.message, rejectReason: 'InvalidRefund' })).toEqual({ status: 'REJECTED' });
    }
    const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from refunds where order_id = $1', [ids.message]);
    expect(rows[0]!.n).toBe(0);
    expect(await balanceOf(db.pool, ids.account)).toBe(10_000);
  });
});
