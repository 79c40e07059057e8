import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import { OrderStatusKey, type SagaState } from '../contract/saga';
import { RefundStatusKey, type RefundSagaState } from '../contract/refund-saga';
import { workflowIdFor } from '../domain/order';
import { refundWorkflowIdFor } from '../domain/refund';
import type * as workflows from '../workflows';

/** What the CLI needs to know of one saga built on the kit: how visibility names it and where its state is. */
export interface SagaKind {
  kind: string;
  workflowType: string;
  /** The keyword search attribute the kit upserts at every change of the saga's state. */
  stateKey: SearchAttributeKey<typeof SearchAttributeType.KEYWORD>;
  states: readonly string[];
  /** The workflow ID's prefix before the saga's own ID. */
  idPrefix: string;
}

const orderStates: SagaState[] = ['RUNNING', 'AWAITING_CONFIRMATION', 'COMPENSATING', 'CONFIRMED', 'CANCELLED'];
const refundStates: RefundSagaState[] = ['RUNNING', 'COMPENSATING', 'REFUNDED', 'REJECTED'];

// Keyed by the workflows the worker registers, so a saga added there fails the typecheck until the CLI can list it.
const byWorkflowType: { [T in keyof typeof workflows]: SagaKind } = {
  orderSaga: { kind: 'order', workflowType: 'orderSaga', stateKey: OrderStatusKey, states: orderStates, idPrefix: workflowIdFor('') },
  refundSaga: { kind: 'refund', workflowType: 'refundSaga', stateKey: RefundStatusKey, states: refundStates, idPrefix: refundWorkflowIdFor('') },
};

export const sagaKinds: readonly SagaKind[] = Object.values(byWorkflowType);

export const kindOfWorkflowType = (type: string): SagaKind | undefined => sagaKinds.find((k) => k.workflowType === type);

/** Every state any saga can be in, each once, in the order the kinds list them. */
export const allSagaStates: readonly string[] = [...new Set(sagaKinds.flatMap((k) => k.states))];
