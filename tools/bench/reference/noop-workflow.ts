/**
 * Reference (a): the order saga's shape before S9 with nothing behind it. The same five activities in the same
 * order (open, reserve, debit, settle, commit) with the same activity options, and the same two
 * search-attribute upserts, but every activity returns at once. What Temporal alone costs per order.
 */
import { proxyActivities, proxyLocalActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { forwardStep, localForwardStep, localUntilDone, untilDone } from '../../../workflows/activity-profiles';
import { CustomerIdKey, NeedsReviewKey, OrderIdKey, OrderStatusKey } from '../../../contract/saga';
import type { NoopActivities } from './noop-activities';

const forward = proxyActivities<NoopActivities>(forwardStep);
const bookkeeping = proxyActivities<NoopActivities>(untilDone);

export interface NoopSagaInput {
  orderId: string;
  customerId: string;
}

export async function noopSaga({ orderId, customerId }: NoopSagaInput): Promise<string> {
  const publish = (state: string) =>
    upsertSearchAttributes([
      { key: OrderIdKey, value: orderId },
      { key: CustomerIdKey, value: customerId },
      { key: OrderStatusKey, value: state },
      { key: NeedsReviewKey, value: false },
    ]);
  publish('RUNNING');
  await bookkeeping.openOrder(orderId);
  await forward.reserveStock(orderId);
  await forward.debitAccount(orderId);
  await bookkeeping.settleConfirmation(orderId);
  await bookkeeping.commitOrder(orderId);
  publish('CONFIRMED');
  return 'CONFIRMED';
}

const localForward = proxyLocalActivities<NoopActivities>(localForwardStep);
const localBookkeeping = proxyLocalActivities<NoopActivities>(localUntilDone);

/**
 * Reference (a) in the saga's current shape (S9): the same five steps as local activities, search
 * attributes set by the starter, one upsert at the end. What Temporal alone costs per order now.
 */
export async function noopSagaLocal({ orderId }: NoopSagaInput): Promise<string> {
  await localBookkeeping.openOrder(orderId);
  await localForward.reserveStock(orderId);
  await localForward.debitAccount(orderId);
  await localBookkeeping.settleConfirmation(orderId);
  await localBookkeeping.commitOrder(orderId);
  upsertSearchAttributes([{ key: OrderStatusKey, value: 'CONFIRMED' }]);
  return 'CONFIRMED';
}
