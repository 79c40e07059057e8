import { expect } from 'vitest';
import type { Queryable } from '../../db/pool';
import * as q from '../../db/reconcile';

/** The invariants of docs/reliability.md, checked with the queries `npm run saga -- reconcile` runs. */
export async function assertInvariants(db: Queryable, { allowPending = false } = {}): Promise<void> {
  if (!allowPending) expect(await q.selectPendingOrders(db, 100), 'orders stranded in PENDING').toEqual([]);
  expect(await q.selectBalanceMismatches(db, 100), 'balance = opening balance + ledger').toEqual([]);
  expect(await q.selectDuplicateLedgerKeys(db, 100), 'ledger keys applied twice').toEqual([]);
  expect(await q.selectCancelledWithBalanceEffect(db, 100), 'cancelled orders with a net balance effect').toEqual([]);
  expect(await q.selectCancelledHoldingStock(db, 100), 'cancelled orders still holding stock').toEqual([]);
  expect(await q.selectStockMismatches(db, 100), 'stock conservation').toEqual([]);
  expect(await q.selectEventCountMismatches(db, 100), 'one outgoing event per ended order').toEqual([]);
  expect(await q.selectRefundedCentsMismatches(db, 100), "an order's refunded cents = its standing refund credits").toEqual([]);
  expect(await q.selectRewardTakeBackMismatches(db, 100), 'cashback taken back = its ledger rows, within what was paid').toEqual([]);
  expect(await q.selectRestockMismatches(db, 100), "an order's goods restocked at most once, by the refund it names").toEqual([]);
  expect(await q.selectRefundEffectMismatches(db, 100), 'every ended refund has its money and its one event').toEqual([]);
}
