import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ConfirmationDecision, SagaStep } from '../domain/order';
import type { OrderSagaInput } from './order';

/** The saga's contract with its clients (intake, API, CLI, tests): safe to import from workflow code. */

export type { OrderSagaInput } from './order';
export { CustomerIdKey, NeedsReviewKey, OrderIdKey, OrderStatusKey } from './search-attributes';

export type SagaState = 'RUNNING' | 'AWAITING_CONFIRMATION' | 'COMPENSATING' | 'CONFIRMED' | 'CANCELLED';
export type SagaPhase = 'open' | SagaStep | 'confirmation' | 'commit' | 'compensate' | 'cancel' | 'review' | 'done';

export interface OrderSagaStatus {
  orderId: string;
  state: SagaState;
  currentStep: SagaPhase;
  stepsApplied: SagaStep[];
  compensationsDone: { step: SagaStep; outcome: string }[];
  checkBacksUsed: number;
  /** While a step in doubt waits for its next check-back (since S11 an operator may ask for it now). */
  nextCheckBackAt?: string;
  reason?: string;
  needsReview: boolean;
  reviewReason?: string;
  /** Since S11: an operator's resolution of a flagged saga, which waits for it before it completes. */
  resolution?: ReviewResolution;
}

export type OrderSagaResult = OrderSagaStatus;

export const statusQuery = defineQuery<OrderSagaStatus>('status');

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

/** Since S10 the one way to confirm or cancel a manual order; its validator refuses when no decision is awaited. */
export const decideUpdate = defineUpdate<DecisionOutcome, [DecisionRequest]>('decide');

/** Why the validator refused a decision; the update's failure carries it as its type. */
export const DecisionRefusal = {
  NotAwaitingDecision: 'NotAwaitingDecision',
  DecisionConflict: 'DecisionConflict',
  InvalidDecision: 'InvalidDecision',
} as const;

/** An operator's resolution as PostgreSQL stored it (order_resolutions): never edited. */
export interface ReviewResolution {
  resolvedBy: string;
  note: string;
  resolvedAt: string;
}

/**
 * Since S11 a saga flagged for review waits, compensated and CANCELLED, for this update: the resolution
 * the operator stored. It clears NeedsReview and lets the saga complete.
 */
export const resolveUpdate = defineUpdate<OrderSagaStatus, [ReviewResolution]>('resolve');

/** The outcome of a check-back an operator asked for. */
export interface CheckBackOutcome {
  orderId: string;
  step: SagaStep;
  state: 'applied' | 'not-applied' | 'compensated' | 'fenced' | 'unknown';
  checkBacksUsed: number;
}

/** Ends the wait between two check-backs of a step in doubt: the saga checks back now and answers what it found. */
export const checkBackNowUpdate = defineUpdate<CheckBackOutcome, []>('checkBackNow');

/** Why the saga refused an operator's request; the update's failure carries it as its type. */
export const OperatorRefusal = {
  NotAwaitingReview: 'NotAwaitingReview',
  NotCheckingBack: 'NotCheckingBack',
  InvalidResolution: 'InvalidResolution',
} as const;

/**
 * Does nothing but give the saga a new workflow task. Temporal refuses updates while a workflow's task has
 * failed (or timed out) repeatedly, until a task completes: a worker killed mid-update can leave a waiting
 * saga so, with nothing scheduled to wake it before its window ends.
 */
export const wakeSignal = defineSignal('wake');

/** Before S10: decisions came as signals after the API stored them. Kept for the sagas that still wait that way. */
export const confirmSignal = defineSignal('confirm');
export const cancelSignal = defineSignal<[{ reason?: string }?]>('cancel');

export const sagaDefaults: Required<Omit<OrderSagaInput, 'messageId' | 'customerId' | 'items'>> = {
  confirmation: 'auto',
  confirmWithin: '10 minutes',
  checkBackEvery: '1 minute',
  maxCheckBacks: 15,
  checkBackInterval: '30 seconds',
};
