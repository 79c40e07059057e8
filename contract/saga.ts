import { defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ConfirmationDecision, SagaStep } from '../domain/order';
import type { OrderSagaInput } from './order';
import { sagaHandlers, type CheckBackOutcome as KitCheckBackOutcome, type KitPhase, type SagaProgress } from './saga-kit';

/** The saga's contract with its clients (intake, API, CLI, tests): safe to import from workflow code. */

export type { OrderSagaInput } from './order';
export { OperatorRefusal, type ReviewResolution } from './saga-kit';
export { CustomerIdKey, NeedsReviewKey, OrderIdKey, OrderStatusKey } from './search-attributes';

export type SagaState = 'RUNNING' | 'AWAITING_CONFIRMATION' | 'COMPENSATING' | 'CONFIRMED' | 'CANCELLED';
export type SagaPhase = 'open' | SagaStep | 'confirmation' | 'commit' | 'cancel' | KitPhase;

export interface OrderSagaStatus extends SagaProgress<SagaStep, SagaState, SagaPhase> {
  orderId: string;
}

export type OrderSagaResult = OrderSagaStatus;

const handlers = sagaHandlers<{ orderId: string }, SagaStep, OrderSagaStatus>();

export const statusQuery = handlers.status;

export interface DecisionRequest {
  decision: ConfirmationDecision;
  reason?: string;
}

/** What a decision led to: the order's end state once the saga has committed or compensated. */
export interface DecisionOutcome {
  orderId: string;
  decision: ConfirmationDecision;
  state: SagaState;
  reason?: string;
}

/** The one way to confirm or cancel a manual order; its validator refuses when no decision is awaited. */
export const decideUpdate = defineUpdate<DecisionOutcome, [DecisionRequest]>('decide');

/** Why the validator refused a decision; the update's failure carries it as its type. */
export const DecisionRefusal = {
  NotAwaitingDecision: 'NotAwaitingDecision',
  DecisionConflict: 'DecisionConflict',
  InvalidDecision: 'InvalidDecision',
} as const;

/** A saga flagged for review waits, compensated and CANCELLED, for the resolution the operator stored. */
export const resolveUpdate = handlers.resolve;

/** Ends the wait between two check-backs of a step in doubt; the saga checks back now and answers. */
export const checkBackNowUpdate = handlers.checkBackNow;

export type CheckBackOutcome = KitCheckBackOutcome<{ orderId: string }, SagaStep>;

/**
 * Does nothing but give the saga a new workflow task. Temporal refuses updates while a workflow's task has
 * failed (or timed out) repeatedly, until a task completes: a worker killed mid-update can leave a waiting
 * saga so, with nothing scheduled to wake it before its window ends.
 */
export const wakeSignal = defineSignal('wake');

/** Decisions as signals, as earlier clients sent them; any client of Temporal's API may still send them, and the saga takes them like the update. */
export const confirmSignal = defineSignal('confirm');
export const cancelSignal = defineSignal<[{ reason?: string }?]>('cancel');

export const sagaDefaults: Required<Omit<OrderSagaInput, 'messageId' | 'customerId' | 'items'>> = {
  confirmation: 'auto',
  confirmWithin: '10 minutes',
  checkBackEvery: '1 minute',
  maxCheckBacks: 15,
  checkBackInterval: '30 seconds',
};
