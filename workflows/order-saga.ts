import { msToNumber } from '@temporalio/common/lib/time';
import { deprecatePatch, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { OpenOrderInput } from '../activities/orders';
import { checkBack, compensation, localForwardStep, localUntilDone } from './activity-profiles';
import {
  CustomerIdKey,
  NeedsReviewKey,
  OrderIdKey,
  OrderStatusKey,
  sagaDefaults,
  type OrderSagaInput,
  type OrderSagaResult,
  type OrderSagaStatus,
} from '../contract/saga';
import { Saga, type SagaDefinition } from './kit/saga';
import { orderMetrics } from './metrics';
import { orderConfirmation } from './order-confirmation';
import { currentDetails, stepSummaries } from './summaries';

type Activities = ReturnType<typeof createActivities>;

const forward = proxyLocalActivities<Activities>(localForwardStep);
const bookkeeping = proxyLocalActivities<Activities>(localUntilDone);
const compensations = proxyActivities<Activities>(compensation);
const checks = proxyActivities<Activities>(checkBack);

/** What the steps share: the order as opened, and the total its debit takes. */
interface Order {
  order: OpenOrderInput;
  totalCents: number;
}

/**
 * An order: open it, reserve its stock, debit its customer, take its confirmation, commit. A failure after a
 * step compensates it (release, refund) and cancels the order; a step in doubt is checked back first.
 */
export async function orderSaga(input: OrderSagaInput): Promise<OrderSagaResult> {
  // Retired (S9 → S12): sagas that ran their steps as server activities ran on builds before S12.
  deprecatePatch('local-steps');
  const options = { ...sagaDefaults, ...stripUndefined(input) };
  const order: OpenOrderInput = { orderId: input.messageId, customerId: input.customerId, items: input.items, confirmation: options.confirmation };
  const says = stepSummaries(order);
  const { orderId } = order;

  const saga = new Saga<Order, OrderSagaStatus>(definition(order, options));
  const decide = orderConfirmation(saga, options, {
    settle: (fallback) => bookkeeping.settleConfirmation.executeWithOptions({ summary: says.settle(fallback) }, [{ orderId, decision: fallback }]),
    waitSummary: says.waitForDecision,
  });

  return saga.run({ order, totalCents: 0 }, [
    {
      phase: 'open',
      run: async (c) => {
        c.totalCents = (await bookkeeping.openOrder.executeWithOptions({ summary: says.open }, [order])).totalCents;
      },
    },
    {
      step: 'reserve',
      run: () => forward.reserveStock.executeWithOptions({ summary: says.reserve }, [{ orderId, items: order.items }]),
      compensate: () => compensations.releaseStock.executeWithOptions({ summary: says.release }, [{ orderId }]),
      checkBack: (_, n, of) => checks.checkStep.executeWithOptions({ summary: says.checkBack('reserve', n, of) }, [{ orderId, step: 'reserve' }]),
    },
    {
      step: 'debit',
      run: (c) => forward.debitAccount.executeWithOptions({ summary: says.debit }, [{ orderId, accountId: order.customerId, amountCents: c.totalCents }]),
      compensate: () => compensations.refundDebit.executeWithOptions({ summary: says.refund }, [{ orderId }]),
      checkBack: (_, n, of) => checks.checkStep.executeWithOptions({ summary: says.checkBack('debit', n, of) }, [{ orderId, step: 'debit' }]),
    },
    { phase: 'confirmation', run: decide },
    // Not cancellable (the kit runs the forward path so): once sent the commit may apply, and compensating it would refund a confirmed order.
    { phase: 'commit', run: () => bookkeeping.commitOrder.executeWithOptions({ summary: says.commit }, [{ orderId }]) },
  ]);

  function definition(o: OpenOrderInput, opts: typeof options): SagaDefinition<Order, OrderSagaStatus> {
    return {
      identity: { orderId: o.orderId },
      states: { running: 'RUNNING', compensating: 'COMPENSATING', completed: 'CONFIRMED', compensated: 'CANCELLED' },
      stateKey: OrderStatusKey,
      searchAttributes: (status) => [
        { key: OrderIdKey, value: o.orderId },
        { key: CustomerIdKey, value: o.customerId },
        { key: OrderStatusKey, value: status.state },
        { key: NeedsReviewKey, value: status.needsReview },
      ],
      checkBacks: { max: opts.maxCheckBacks, intervalMs: msToNumber(opts.checkBackInterval) },
      finally: {
        phase: 'cancel',
        // The cancellation may have had to make its text storable: its review reason flags the saga.
        run: async (c, status) =>
          (
            await bookkeeping.cancelOrder.executeWithOptions({ summary: says.cancel }, [
              { ...c.order, reason: status.reason!, reviewReason: status.reviewReason },
            ])
          ).reviewReason,
      },
      // Versioned change (S11): a flagged saga waits for an operator; older sagas completed flagged.
      awaitsReview: () => patched('await-review'),
      details: currentDetails,
      metrics: { completed: () => orderMetrics.confirmed(), compensated: (reason) => orderMetrics.cancelled(reason) },
    };
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
