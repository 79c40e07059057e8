import { metricMeter } from '@temporalio/workflow';

/**
 * What the order saga counts, through the SDK's workflow meter: the worker's metrics port serves them (the
 * exporter adds `_total`, and the labels namespace, taskQueue and workflowType). The meter emits nothing
 * while a workflow replays, so a saga replayed after a cache eviction or by another worker counts once;
 * a workflow task that fails after its activation and runs again may count twice. Emitting issues no
 * command, so histories replay unchanged. The kit counts compensations and check-backs (`kit/metrics.ts`).
 */

/** Why the order saga ends its forward path itself, besides the kit's reasons (`KitAbortReason`). */
export type OrderAbortReason = 'requested' | 'window_expired';

export const orderMetrics = {
  awaitingDecision(): void {
    metricMeter.createCounter('orders_awaiting_decision', undefined, 'Manual orders that began waiting for a confirm or cancel decision').add(1);
  },
  confirmed(): void {
    metricMeter.createCounter('orders_confirmed', undefined, 'Orders the saga confirmed').add(1);
  },
  /** `reason` is an abort reason or a business failure's category: a bounded set, never the free text the order stores. */
  cancelled(reason: string): void {
    metricMeter.createCounter('orders_cancelled', undefined, 'Orders the saga cancelled, by reason category').add(1, { reason });
  },
};

export const refundMetrics = {
  refunded(): void {
    metricMeter.createCounter('refunds_completed', undefined, 'Refunds the refund saga completed').add(1);
  },
  rejected(reason: string): void {
    metricMeter.createCounter('refunds_rejected', undefined, 'Refunds the refund saga rejected, by reason category').add(1, { reason });
  },
};
