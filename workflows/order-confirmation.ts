import { msToNumber } from '@temporalio/common/lib/time';
import { CancellationScope, condition, deprecatePatch, setHandler, sleep } from '@temporalio/workflow';
import {
  cancelSignal,
  confirmSignal,
  decideUpdate,
  DecisionRefusal,
  wakeSignal,
  type DecisionOutcome,
  type DecisionRequest,
  type OrderSagaInput,
  type OrderSagaStatus,
} from '../contract/saga';
import type { ConfirmationDecision } from '../domain/order';
import { Limits } from '../domain/limits';
import { textProblem } from '../domain/text';
import { SagaAbort } from './kit/failures';
import type { Saga } from './kit/saga';
import { orderMetrics, type OrderAbortReason } from './metrics';

type Options = Required<Pick<OrderSagaInput, 'confirmation' | 'confirmWithin'>>;

/**
 * The order's decision: a manual order waits for the `decide` update (one timer for the window); every order
 * then stores its decision through `settle`, where the first one stored wins (the API's, the window's expiry,
 * a workflow cancel, or the auto default). A cancel ends the forward path, so the saga compensates.
 */
export function orderConfirmation<C>(
  saga: Saga<C, OrderSagaStatus>,
  options: Options,
  steps: {
    settle: (fallback: ConfirmationDecision) => Promise<ConfirmationDecision | null>;
    waitSummary: (until: Date) => string;
  },
): () => Promise<void> {
  const { orderId } = saga.status;
  const manual = options.confirmation === 'manual';
  let decision: ConfirmationDecision | undefined;
  let cancelReason: string | undefined;
  // Decisions are taken while the saga may still ask for one: a manual order before its window closed.
  let decisionsOpen = manual;
  /** The first decision a client asked for (update or signal); `decision` may also come from a default. */
  let requested: ConfirmationDecision | undefined;
  const take = (asked: ConfirmationDecision, reason?: string) => {
    requested ??= asked;
    if (decision) return;
    decision = asked;
    cancelReason = reason;
  };

  setHandler(
    decideUpdate,
    async (request: DecisionRequest): Promise<DecisionOutcome> => {
      take(request.decision, request.reason);
      // Answered even when the workflow is cancelled meanwhile: the saga still ends, and says how.
      await CancellationScope.nonCancellable(() => condition(() => saga.ended()));
      const { state, reason } = saga.status;
      return { orderId, decision: request.decision, state, ...(reason ? { reason } : {}) };
    },
    { validator: validate },
  );
  setHandler(wakeSignal, () => undefined);
  // Any client of Temporal's API may still send the pre-S10 signals: they are decisions like the update's.
  setHandler(confirmSignal, () => take('confirm'));
  setHandler(cancelSignal, (args) => take('cancel', args?.reason));

  function validate(request: DecisionRequest): void {
    const refuse = (type: string, message: string) => saga.refusal(type, message, { decision: requested ?? null });
    if (request?.decision !== 'confirm' && request?.decision !== 'cancel') throw refuse(DecisionRefusal.InvalidDecision, 'decision must be confirm or cancel');
    const reasonProblem = request.reason === undefined ? undefined : typeof request.reason !== 'string' ? 'must be a string' : textProblem(request.reason);
    // Counted in code points, as the API's schema and PostgreSQL count.
    if (reasonProblem || [...(request.reason ?? '')].length > Limits.maxReasonLength)
      throw refuse(DecisionRefusal.InvalidDecision, `reason ${reasonProblem ?? 'is too long'}`);
    if (!manual) throw refuse(DecisionRefusal.NotAwaitingDecision, `order ${orderId} confirms automatically`);
    // The first decision wins; the same one again waits for the same outcome, also the decision the window's
    // expiry or a workflow cancel took (the closed order answers so from the database too).
    if (requested === request.decision || (!decisionsOpen && decision === request.decision)) return;
    if (requested) throw refuse(DecisionRefusal.DecisionConflict, `order ${orderId} already has decision ${requested}`);
    const { state } = saga.status;
    const stillForward = state === 'RUNNING' || state === 'AWAITING_CONFIRMATION';
    if (!decisionsOpen || !stillForward || saga.cancelRequested())
      throw refuse(DecisionRefusal.NotAwaitingDecision, `order ${orderId} is not awaiting a decision (${state})`);
  }

  async function awaitDecision(): Promise<void> {
    saga.publish('AWAITING_CONFIRMATION');
    orderMetrics.awaitingDecision();
    // Retired (S10 → S12): sagas that re-read the decision the API stored ran on builds before S12.
    deprecatePatch('decision-update');
    const until = new Date(Date.now() + msToNumber(options.confirmWithin));
    await condition(() => decision !== undefined || saga.cancelRequested(), options.confirmWithin, { summary: steps.waitSummary(until) });
    decisionsOpen = false;
    // Ends this workflow task, so Temporal records the decision as accepted before the local steps that
    // settle and commit it run: the client's answer does not wait on the database.
    if (requested) await sleep(1);
  }

  const windowExpired = () => `confirmation window of ${String(options.confirmWithin)} expired`;

  return async function decide(): Promise<void> {
    if (manual) await awaitDecision();
    decisionsOpen = false;
    const signalled = decision;
    const cancelled = saga.cancelRequested();
    const fallback = decision ?? (cancelled || manual ? 'cancel' : 'confirm');
    decision = (await steps.settle(fallback)) ?? fallback;
    if (decision === 'confirm') return;
    const [message, why]: [string, OrderAbortReason | 'saga_cancelled'] = cancelReason
      ? [`cancelled: ${cancelReason}`, 'requested']
      : signalled
        ? ['cancelled by request', 'requested']
        : cancelled
          ? ['saga cancelled', 'saga_cancelled']
          : manual
            ? [windowExpired(), 'window_expired']
            : ['cancelled by request', 'requested'];
    throw new SagaAbort(message, why);
  };
}
