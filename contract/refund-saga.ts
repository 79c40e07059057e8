import type { RefundStep } from '../domain/refund';
import { sagaHandlers, type KitPhase, type SagaProgress } from './saga-kit';

/** The refund saga's contract with its clients (intake, API, tests): safe to import from workflow code. */

export { RefundStatusKey } from './search-attributes';

/** What the refund saga receives: the refund as validated by the intake. */
export interface RefundSagaInput {
  refundId: string;
  orderId: string;
  amountCents: number;
  reason?: string;
  /** In-doubt steps: how many status checks before giving up (default 15), and how far apart (default 30 s). */
  maxCheckBacks?: number;
  checkBackIntervalMs?: number;
}

export type RefundSagaState = 'RUNNING' | 'COMPENSATING' | 'REFUNDED' | 'REJECTED';
export type RefundSagaPhase = RefundStep | 'complete' | 'reject' | KitPhase | 'open';

export interface RefundSagaStatus extends SagaProgress<RefundStep, RefundSagaState, RefundSagaPhase> {
  refundId: string;
  orderId: string;
}

const handlers = sagaHandlers<{ refundId: string; orderId: string }, RefundStep, RefundSagaStatus>();

export const refundStatusQuery = handlers.status;
export const refundCheckBackNowUpdate = handlers.checkBackNow;

export const refundSagaDefaults = { maxCheckBacks: 15, checkBackIntervalMs: 30_000 } as const;
