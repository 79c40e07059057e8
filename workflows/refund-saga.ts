import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { RefundInput } from '../activities/refunds';
import { refundSagaDefaults, RefundStatusKey, type RefundSagaInput, type RefundSagaStatus } from '../contract/refund-saga';
import { NeedsReviewKey, OrderIdKey } from '../contract/search-attributes';
import { formatCents } from '../domain/order-summary';
import { checkBack, compensation, localForwardStep, localUntilDone } from './activity-profiles';
import { Saga } from './kit/saga';
import { refundMetrics } from './metrics';
import { currentDetails } from './summaries';

type Activities = ReturnType<typeof createActivities>;

// The credit is what an accepted refund owes, and its end must be written: both retry through any transient fault
// until they apply, and only a business rule (the database's cap, an order not confirmed) refuses the credit.
const owed = proxyLocalActivities<Activities>(localUntilDone);
const forward = proxyLocalActivities<Activities>(localForwardStep);
const compensations = proxyActivities<Activities>(compensation);
const checks = proxyActivities<Activities>(checkBack);

/**
 * A refund of a confirmed order: credit the customer, less the cashback in proportion, as its share of what the
 * order paid (the database refuses a share past the total); put the goods back when the order is now refunded
 * in full; complete with its event. A refused credit ends the refund REJECTED with the reason.
 */
export async function refundSaga(input: RefundSagaInput): Promise<RefundSagaStatus> {
  const refund: RefundInput = { refundId: input.refundId, orderId: input.orderId, amountCents: input.amountCents, reason: input.reason };
  const { refundId, orderId } = refund;
  const amount = formatCents(refund.amountCents);
  const checkBackOf = (step: RefundSagaStatus['stepsApplied'][number]) => (_: unknown, n: number, of: number) =>
    checks.checkRefundStep.executeWithOptions({ summary: `check back: did ${step} apply? (${n} of ${of})` }, [{ refundId, step }]);

  const saga = new Saga<RefundInput, RefundSagaStatus>({
    identity: { refundId, orderId },
    states: { running: 'RUNNING', compensating: 'COMPENSATING', completed: 'REFUNDED', compensated: 'REJECTED' },
    stateKey: RefundStatusKey,
    searchAttributes: (status) => [
      { key: OrderIdKey, value: orderId },
      { key: RefundStatusKey, value: status.state },
      { key: NeedsReviewKey, value: status.needsReview },
    ],
    checkBacks: {
      max: input.maxCheckBacks ?? refundSagaDefaults.maxCheckBacks,
      intervalMs: input.checkBackIntervalMs ?? refundSagaDefaults.checkBackIntervalMs,
    },
    finally: {
      phase: 'reject',
      run: async (r, status) => {
        await owed.rejectRefund.executeWithOptions({ summary: `reject refund ${refundId}` }, [{ ...r, rejectReason: status.reason ?? 'rejected' }]);
        return undefined;
      },
    },
    // A flagged refund completes flagged (NeedsReview): operator resolutions are recorded per order.
    awaitsReview: () => false,
    details: currentDetails,
    metrics: { completed: () => refundMetrics.refunded(), compensated: (reason) => refundMetrics.rejected(reason) },
  });

  return saga.run(refund, [
    {
      step: 'credit',
      run: (r) => owed.creditRefund.executeWithOptions({ summary: `credit ${amount} of order ${orderId}, less its cashback` }, [r]),
      compensate: (r) => compensations.reverseRefundCredit.executeWithOptions({ summary: `reverse the credit of ${amount}` }, [r]),
      checkBack: checkBackOf('credit'),
    },
    {
      step: 'restock',
      run: (r) => forward.restockRefund.executeWithOptions({ summary: 'restock if fully refunded' }, [r]),
      compensate: (r) => compensations.unstockRefund.executeWithOptions({ summary: 'take the restock back' }, [r]),
      checkBack: checkBackOf('restock'),
    },
    { phase: 'complete', run: (r) => owed.completeRefund.executeWithOptions({ summary: `complete refund ${refundId}` }, [r]) },
  ]);
}
