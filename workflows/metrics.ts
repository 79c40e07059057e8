import { metricMeter } from '@temporalio/workflow';
import { businessErrorTypes } from '../domain/errors';
import type { SagaStep } from '../domain/order';

/**
 * What the saga counts, through the SDK's workflow meter: the worker's metrics port serves them (the
 * exporter adds `_total`, and the labels namespace, taskQueue and workflowType). The meter emits nothing
 * while a workflow replays, so a saga replayed after a cache eviction or by another worker counts once;
 * a workflow task that fails after its activation and runs again may count twice. Emitting issues no
 * command, so histories replay unchanged.
 */

/** Why the saga ended the forward path itself; business failures and other errors are labelled by businessReason. */
export type AbortReason = 'requested' | 'window_expired' | 'saga_cancelled' | 'step_not_applied' | 'step_in_doubt';

/** A business failure's type in snake case (out_of_stock, insufficient_funds, …); any other type is `failure`. */
export function businessReason(type: string | null | undefined): string {
  if (!type || !businessErrorTypes.includes(type)) return 'failure';
  return type.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toLowerCase();
}

/** Values outside the known set become `other`, so a label never carries free text. */
const bounded = (value: string, known: readonly string[]) => (known.includes(value) ? value : 'other');

const compensationOutcomes = ['compensated', 'fenced', 'already-compensated', 'already-fenced'];
const checkBackOutcomes = ['applied', 'not-applied', 'compensated', 'fenced', 'unknown'];

export const sagaMetrics = {
  awaitingDecision(): void {
    metricMeter.createCounter('orders_awaiting_decision', undefined, 'Manual orders that began waiting for a confirm or cancel decision').add(1);
  },
  confirmed(): void {
    metricMeter.createCounter('orders_confirmed', undefined, 'Orders the saga confirmed').add(1);
  },
  /** `reason` is an AbortReason or businessReason's answer: a bounded set, never the free text the order stores. */
  cancelled(reason: string): void {
    metricMeter.createCounter('orders_cancelled', undefined, 'Orders the saga cancelled, by reason category').add(1, { reason });
  },
  compensated(step: SagaStep, outcome: string): void {
    metricMeter
      .createCounter('saga_compensations', undefined, 'Compensations run, by the step they undo and their outcome')
      .add(1, { step, outcome: bounded(outcome, compensationOutcomes) });
  },
  checkedBack(step: SagaStep, outcome: string): void {
    metricMeter
      .createCounter('saga_check_backs', undefined, 'Check-backs of a step in doubt, by step and the state found')
      .add(1, { step, outcome: bounded(outcome, checkBackOutcomes) });
  },
};
