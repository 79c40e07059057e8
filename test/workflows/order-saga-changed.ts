import { sleep } from '@temporalio/workflow';
import { orderSaga as currentOrderSaga } from '../../workflows/order-saga';
import type { OrderSagaInput, OrderSagaResult } from '../../contract/saga';

/** An unversioned change (a new timer before the first step): replaying old histories must reject it. */
export async function orderSaga(input: OrderSagaInput): Promise<OrderSagaResult> {
  await sleep('1 second');
  return currentOrderSaga(input);
}
