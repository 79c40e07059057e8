import { defineSearchAttributeKey, SearchAttributeType, type Duration } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { ConfirmationMode, OrderItem, SagaStep } from '../domain/order';

export interface OrderSagaInput {
  messageId: string;
  customerId: string;
  items: OrderItem[];
  confirmation?: ConfirmationMode;
  /** How long a manual order waits for confirm/cancel. Default 10 minutes. */
  confirmWithin?: Duration;
  /** How often a waiting manual order re-reads its stored decision. Default 1 minute. */
  checkBackEvery?: Duration;
  /** In-doubt steps: how many status checks before giving up. Default 15. */
  maxCheckBacks?: number;
  /** In-doubt steps: the time between two status checks. Default 30 seconds. */
  checkBackInterval?: Duration;
}

export type SagaState = 'RUNNING' | 'AWAITING_CONFIRMATION' | 'COMPENSATING' | 'CONFIRMED' | 'CANCELLED';
export type SagaPhase = 'open' | SagaStep | 'confirmation' | 'commit' | 'compensate' | 'cancel' | 'done';

export interface OrderSagaStatus {
  orderId: string;
  state: SagaState;
  currentStep: SagaPhase;
  stepsApplied: SagaStep[];
  compensationsDone: { step: SagaStep; outcome: string }[];
  checkBacksUsed: number;
  reason?: string;
  needsReview: boolean;
  reviewReason?: string;
}

export type OrderSagaResult = OrderSagaStatus;

export const statusQuery = defineQuery<OrderSagaStatus>('status');
export const confirmSignal = defineSignal('confirm');
export const cancelSignal = defineSignal<[{ reason?: string }?]>('cancel');

export const OrderIdKey = defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD);
export const CustomerIdKey = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const OrderStatusKey = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);
export const NeedsReviewKey = defineSearchAttributeKey('NeedsReview', SearchAttributeType.BOOL);

export const sagaDefaults: Required<Omit<OrderSagaInput, 'messageId' | 'customerId' | 'items'>> = {
  confirmation: 'auto',
  confirmWithin: '10 minutes',
  checkBackEvery: '1 minute',
  maxCheckBacks: 15,
  checkBackInterval: '30 seconds',
};
