import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { businessErrorTypes } from '../domain/errors';
import type { ConfirmationDecision, OrderItem, SagaStep } from '../domain/order';
import { checkBack, compensation, forwardStep, localForwardStep, localUntilDone, untilDone } from './activity-profiles';
import {
  cancelSignal,
  checkBackNowUpdate,
  confirmSignal,
  CustomerIdKey,
  decideUpdate,
  DecisionRefusal,
  NeedsReviewKey,
  OperatorRefusal,
  OrderIdKey,
  OrderStatusKey,
  resolveUpdate,
  sagaDefaults,
  statusQuery,
  wakeSignal,
  type DecisionOutcome,
  type CheckBackOutcome,
  type DecisionRequest,
  type OrderSagaInput,
  type OrderSagaResult,
  type OrderSagaStatus,
  type ReviewResolution,
  type SagaState,
} from '../contract/saga';
import { Limits } from '../domain/limits';
import { textProblem } from '../domain/text';
import { businessReason, sagaMetrics, type AbortReason } from './metrics';
import { currentDetails, stepSummaries } from './summaries';

type Activities = ReturnType<typeof createActivities>;

const MAX_DECISION_CHECK_BACK_MS = 60 * 60 * 1000;

const forward = proxyActivities<Activities>(forwardStep);
const bookkeeping = proxyActivities<Activities>(untilDone);
const compensations = proxyActivities<Activities>(compensation);
const checks = proxyActivities<Activities>(checkBack);
const localForward = proxyLocalActivities<Activities>(localForwardStep);
const localBookkeeping = proxyLocalActivities<Activities>(localUntilDone);

/** Ends the forward path; carries the reason the order is cancelled. */
class SagaAbort extends Error {
  constructor(
    message: string,
    readonly why: AbortReason,
    readonly reviewReason?: string,
  ) {
    super(message);
  }
}

function describeFailure(err: unknown): string {
  if (err instanceof SagaAbort) return err.message;
  const failure = applicationFailureOf(err);
  if (failure) return `${failure.type ?? 'Error'}: ${failure.message}`;
  if (isCancellation(err)) return 'saga cancelled';
  return err instanceof Error ? err.message : String(err);
}

/** An activity's own failure: wrapped in an ActivityFailure, or bare from a local activity. */
function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

/** The label orders_cancelled counts it under. */
function cancelReasonOf(err: unknown): string {
  if (err instanceof SagaAbort) return err.why;
  if (isCancellation(err)) return 'saga_cancelled';
  return businessReason(applicationFailureOf(err)?.type);
}

function isBusinessFailure(err: unknown): boolean {
  return businessErrorTypes.includes(applicationFailureOf(err)?.type ?? '');
}

export async function orderSaga(input: OrderSagaInput): Promise<OrderSagaResult> {
  const options = { ...sagaDefaults, ...stripUndefined(input) };
  const orderId = input.messageId;
  const items: OrderItem[] = input.items;
  const order = { orderId, customerId: input.customerId, items, confirmation: options.confirmation };
  const says = stepSummaries(order);

  const status: OrderSagaStatus = {
    orderId,
    state: 'RUNNING',
    currentStep: 'open',
    stepsApplied: [],
    compensationsDone: [],
    checkBacksUsed: 0,
    needsReview: false,
  };
  let decision: ConfirmationDecision | undefined;
  let cancelReason: string | undefined;

  // Versioned change (S9): the forward steps, the decision and the commit run as local activities, so an
  // auto order takes one workflow task instead of six; older sagas replay with activities on the server.
  const localSteps = patched('local-steps');
  const steps = localSteps ? { forward: localForward, bookkeeping: localBookkeeping } : { forward, bookkeeping };
  // Since S9 a workflow cancel is one more "cancel" decision, and the first decision stored wins. A rejected
  // workflow task replays the cancel before local steps that already ran (a commit among them): deciding
  // through the database keeps such a commit from being compensated.
  const root = CancellationScope.current();
  const cancelRequested = () => localSteps && root.consideredCancelled;
  const shielded = <T>(work: () => Promise<T>): Promise<T> => (localSteps ? CancellationScope.nonCancellable(work) : work());

  setHandler(statusQuery, () => status);
  // Decisions are taken while the saga may still ask for one: a manual order before its window closed.
  let decisionsOpen = options.confirmation === 'manual';
  /** The first decision a client asked for (update or, before S10, signal); `decision` may also come from a default. */
  let requested: ConfirmationDecision | undefined;
  const takeRequest = (asked: ConfirmationDecision, reason?: string) => {
    requested ??= asked;
    if (decision) return;
    decision = asked;
    cancelReason = reason;
  };
  const ended = () => status.state === 'CONFIRMED' || status.state === 'CANCELLED';
  setHandler(
    decideUpdate,
    async (request: DecisionRequest): Promise<DecisionOutcome> => {
      takeRequest(request.decision, request.reason);
      // Answered even when the workflow is cancelled meanwhile: the saga still ends, and says how.
      await CancellationScope.nonCancellable(() => condition(ended));
      return { orderId, decision: request.decision, state: status.state, ...(status.reason ? { reason: status.reason } : {}) };
    },
    { validator: (request: DecisionRequest) => validateDecision(request) },
  );
  function validateDecision(request: DecisionRequest): void {
    const refuse = (type: string, message: string) =>
      ApplicationFailure.create({
        type,
        message,
        nonRetryable: true,
        details: [{ state: status.state, currentStep: status.currentStep, decision: requested ?? null }],
      });
    if (request?.decision !== 'confirm' && request?.decision !== 'cancel') throw refuse(DecisionRefusal.InvalidDecision, 'decision must be confirm or cancel');
    const reasonProblem = request.reason === undefined ? undefined : typeof request.reason !== 'string' ? 'must be a string' : textProblem(request.reason);
    // Counted in code points, as the API's schema and PostgreSQL count.
    if (reasonProblem || [...(request.reason ?? '')].length > Limits.maxReasonLength)
      throw refuse(DecisionRefusal.InvalidDecision, `reason ${reasonProblem ?? 'is too long'}`);
    if (options.confirmation !== 'manual') throw refuse(DecisionRefusal.NotAwaitingDecision, `order ${orderId} confirms automatically`);
    // The first decision wins; the same one again waits for the same outcome, also the decision the window's
    // expiry or a workflow cancel took (the closed order answers so from the database too).
    if (requested === request.decision || (!decisionsOpen && decision === request.decision)) return;
    if (requested) throw refuse(DecisionRefusal.DecisionConflict, `order ${orderId} already has decision ${requested}`);
    const stillForward = status.state === 'RUNNING' || status.state === 'AWAITING_CONFIRMATION';
    if (!decisionsOpen || !stillForward || cancelRequested())
      throw refuse(DecisionRefusal.NotAwaitingDecision, `order ${orderId} is not awaiting a decision (${status.state})`);
  }
  setHandler(wakeSignal, () => undefined);

  const refuse = (type: string, message: string) =>
    ApplicationFailure.create({ type, message, nonRetryable: true, details: [{ state: status.state, currentStep: status.currentStep }] });

  // An operator who fixed what kept a step in doubt need not wait out the interval.
  let inDoubt: { step: SagaStep; checked: number; last?: CheckBackOutcome['state'] } | undefined;
  let checkNow = false;
  setHandler(
    checkBackNowUpdate,
    async (): Promise<CheckBackOutcome> => {
      const doubt = inDoubt!;
      const before = doubt.checked;
      // While a check-back runs, its answer is the one asked for.
      if (status.nextCheckBackAt) checkNow = true;
      await CancellationScope.nonCancellable(() => condition(() => doubt.checked > before || inDoubt !== doubt));
      return { orderId, step: doubt.step, state: doubt.checked > before ? doubt.last! : 'unknown', checkBacksUsed: status.checkBacksUsed };
    },
    {
      validator: () => {
        if (!inDoubt) throw refuse(OperatorRefusal.NotCheckingBack, `order ${orderId} has no step in doubt (${status.state})`);
      },
    },
  );

  let awaitingReview = false;
  setHandler(
    resolveUpdate,
    (resolution: ReviewResolution): OrderSagaStatus => {
      awaitingReview = false;
      status.resolution = resolution;
      status.needsReview = false;
      publishState(status.state);
      return status;
    },
    {
      validator: (resolution: ReviewResolution) => {
        if (!awaitingReview) throw refuse(OperatorRefusal.NotAwaitingReview, `order ${orderId} is not awaiting review (${status.state})`);
        const problem = resolutionProblem(resolution);
        if (problem) throw refuse(OperatorRefusal.InvalidResolution, problem);
      },
    },
  );
  setHandler(confirmSignal, () => takeRequest('confirm'));
  setHandler(cancelSignal, (args) => takeRequest('cancel', args?.reason));

  const showDetails = () => setCurrentDetails(currentDetails(status));
  const publishState = (state: SagaState) => {
    status.state = state;
    showDetails();
    upsertSearchAttributes([
      { key: OrderIdKey, value: orderId },
      { key: CustomerIdKey, value: input.customerId },
      { key: OrderStatusKey, value: state },
      { key: NeedsReviewKey, value: status.needsReview },
    ]);
  };
  // Since S9 intake sets the search attributes at the start; a saga started without them still gets them.
  if (!localSteps || workflowInfo().typedSearchAttributes.get(OrderStatusKey) === undefined) publishState('RUNNING');

  /**
   * Runs a forward step. A business failure means it did not apply. Any other failure (timeouts,
   * attempts exhausted) leaves it in doubt: check back its stored status before deciding.
   */
  async function runStep(step: SagaStep, action: () => Promise<unknown>): Promise<void> {
    status.currentStep = step;
    try {
      await action();
    } catch (err) {
      if (isBusinessFailure(err) || isCancellation(err)) throw err;
      log.warn('step in doubt; checking back', { orderId, step, error: describeFailure(err) });
      await resolveInDoubt(step, describeFailure(err));
    }
    status.stepsApplied.push(step);
    showDetails();
  }

  async function resolveInDoubt(step: SagaStep, cause: string): Promise<void> {
    const doubt: NonNullable<typeof inDoubt> = (inDoubt = { step, checked: 0 });
    try {
      for (let check = 1; check <= options.maxCheckBacks; check++) {
        status.checkBacksUsed++;
        showDetails();
        const state = await checks.checkStep
          .executeWithOptions({ summary: says.checkBack(step, check, options.maxCheckBacks) }, [{ orderId, step }])
          .catch(unknownUnlessCancelled('unknown' as const));
        sagaMetrics.checkedBack(step, state);
        doubt.last = state;
        doubt.checked++;
        if (state === 'applied') return;
        if (state !== 'unknown') throw new SagaAbort(`${step} did not apply (${cause})`, 'step_not_applied');
        if (check < options.maxCheckBacks) {
          status.nextCheckBackAt = new Date(Date.now() + msToNumber(options.checkBackInterval)).toISOString();
          await pause(options.checkBackInterval);
          delete status.nextCheckBackAt;
        }
      }
    } finally {
      inDoubt = undefined;
      delete status.nextCheckBackAt;
    }
    throw new SagaAbort(
      `${step} outcome unknown after ${options.maxCheckBacks} check-backs (${cause})`,
      'step_in_doubt',
      `${step} in doubt after ${options.maxCheckBacks} check-backs`,
    );
  }

  /** The wait between check-backs; since S9 a workflow cancel ends it and the saga compensates, and since S11 an operator's check-back-now. */
  async function pause(interval: Duration): Promise<void> {
    if (!localSteps) return sleep(interval);
    if (!cancelRequested() && !checkNow) await condition(() => cancelRequested() || checkNow, interval);
    checkNow = false;
    if (cancelRequested()) throw new SagaAbort('saga cancelled', 'saga_cancelled');
  }

  async function awaitConfirmation(): Promise<void> {
    status.currentStep = 'confirmation';
    publishState('AWAITING_CONFIRMATION');
    sagaMetrics.awaitingDecision();
    // Versioned change (S10): decisions arrive by update only, so one timer covers the window; sagas
    // started before it keep re-reading the decision the API stored.
    if (patched('decision-update')) {
      const until = new Date(Date.now() + msToNumber(options.confirmWithin));
      await condition(() => decision !== undefined || cancelRequested(), options.confirmWithin, { summary: says.waitForDecision(until) });
      decisionsOpen = false;
      // Ends this workflow task, so Temporal records the decision as accepted before the local steps that
      // settle and commit it run: the client's answer does not wait on the database.
      if (requested) await sleep(1);
      return;
    }
    // Versioned change (S8): check-backs double in spacing up to an hour, so the longest window the API
    // accepts (7 days) stays far below the server's history limit; older sagas keep their fixed spacing.
    const spacingGrows = localSteps || patched('decision-check-backs-double');
    const deadline = Date.now() + msToNumber(options.confirmWithin);
    let every = msToNumber(options.checkBackEvery);
    const longest = Math.max(every, MAX_DECISION_CHECK_BACK_MS);
    while (!decision && !cancelRequested()) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      if (await condition(() => decision !== undefined || cancelRequested(), Math.min(every, remaining))) break;
      // A decision stored in the database whose signal never arrived still counts.
      decision = (await checks.readConfirmationDecision({ orderId }).catch(unknownUnlessCancelled(null))) ?? undefined;
      if (spacingGrows) every = Math.min(every * 2, longest);
    }
    decisionsOpen = false;
    if (!decision && !settlesStoredDecision) throw new SagaAbort(windowExpired(), 'window_expired');
  }

  const windowExpired = () => `confirmation window of ${String(options.confirmWithin)} expired`;

  // Versioned change (S5): histories recorded before it replay without the extra activity.
  const settlesStoredDecision = localSteps || patched('settle-stored-decision-before-commit');

  // Compensations are registered before their step runs: a step that timed out may still have applied.
  const undo: { step: SagaStep; run: () => Promise<string> }[] = [];
  async function forwardPath(): Promise<void> {
    const { totalCents } = await steps.bookkeeping.openOrder.executeWithOptions({ summary: says.open }, [order]);
    undo.unshift({ step: 'reserve', run: () => compensations.releaseStock.executeWithOptions({ summary: says.release }, [{ orderId }]) });
    await runStep('reserve', () => steps.forward.reserveStock.executeWithOptions({ summary: says.reserve }, [{ orderId, items }]));
    undo.unshift({ step: 'debit', run: () => compensations.refundDebit.executeWithOptions({ summary: says.refund }, [{ orderId }]) });
    await runStep('debit', () =>
      steps.forward.debitAccount.executeWithOptions({ summary: says.debit }, [{ orderId, accountId: input.customerId, amountCents: totalCents }]),
    );
    if (options.confirmation === 'manual') await awaitConfirmation();
    decisionsOpen = false;
    const signalled = decision;
    const cancelled = cancelRequested();
    if (settlesStoredDecision) {
      // The first decision stored wins, whether the API stored it (its signal may be lost) or this default does.
      const fallback = decision ?? (cancelled || options.confirmation === 'manual' ? 'cancel' : 'confirm');
      decision =
        (await steps.bookkeeping.settleConfirmation.executeWithOptions({ summary: says.settle(fallback) }, [{ orderId, decision: fallback }])) ?? fallback;
    }
    if (decision === 'cancel') {
      const unsignalled = cancelled ? 'saga cancelled' : options.confirmation === 'manual' ? windowExpired() : 'cancelled by request';
      const why = cancelReason || signalled ? 'requested' : cancelled ? 'saga_cancelled' : options.confirmation === 'manual' ? 'window_expired' : 'requested';
      throw new SagaAbort(cancelReason ? `cancelled: ${cancelReason}` : signalled ? 'cancelled by request' : unsignalled, why);
    }
    status.currentStep = 'commit';
    // Not cancellable: once the commit is sent it may apply, and compensating after it would refund a confirmed order.
    await CancellationScope.nonCancellable(() => steps.bookkeeping.commitOrder.executeWithOptions({ summary: says.commit }, [{ orderId }]));
  }

  try {
    await shielded(forwardPath);
    status.currentStep = 'done';
    publishState('CONFIRMED');
    sagaMetrics.confirmed();
    return await answeredDecisions(status);
  } catch (err) {
    status.reason = describeFailure(err);
    if (err instanceof SagaAbort && err.reviewReason) {
      status.needsReview = true;
      status.reviewReason = err.reviewReason;
    }
    log.info('compensating', { orderId, reason: status.reason });
    await CancellationScope.nonCancellable(async () => {
      status.currentStep = 'compensate';
      publishState('COMPENSATING');
      for (const { step, run } of undo) {
        // Retried until done by the profile; a non-retryable failure here is a broken invariant and fails the saga loudly.
        const outcome = await run();
        status.compensationsDone.push({ step, outcome });
        showDetails();
        sagaMetrics.compensated(step, outcome);
      }
      status.currentStep = 'cancel';
      const cancelled = await steps.bookkeeping.cancelOrder.executeWithOptions({ summary: says.cancel }, [
        { ...order, reason: status.reason!, reviewReason: status.reviewReason },
      ]);
      // The cancellation had to make its text storable: flag it, so the UI and the API show it for review.
      if (cancelled.reviewReason && !status.needsReview) {
        status.needsReview = true;
        status.reviewReason = cancelled.reviewReason;
      }
    });
    publishState('CANCELLED');
    sagaMetrics.cancelled(cancelReasonOf(err));
    // Versioned change (S11): a flagged saga stays open until an operator resolves it, so NeedsReview
    // lists only what still needs a person; older sagas completed flagged.
    if (status.needsReview && patched('await-review')) {
      status.currentStep = 'review';
      awaitingReview = true;
      showDetails();
      await CancellationScope.nonCancellable(() => condition(() => status.resolution !== undefined));
    }
    status.currentStep = 'done';
    showDetails();
    return await answeredDecisions(status);
  }
}

/** Returns once every decide update has answered; a workflow cancel must not cut that wait short. */
async function answeredDecisions(result: OrderSagaResult): Promise<OrderSagaResult> {
  await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
  return result;
}

/** A failed status read counts as "unknown"; a cancellation of the saga is not swallowed. */
function unknownUnlessCancelled<T>(fallback: T): (err: unknown) => T {
  return (err) => {
    if (isCancellation(err)) throw err;
    return fallback;
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Checked again in the saga: a client of Temporal's API may send anything. */
function resolutionProblem(r: ReviewResolution | undefined): string | undefined {
  for (const [field, max] of [
    ['resolvedBy', Limits.maxIdLength],
    ['note', Limits.maxReasonLength],
    ['resolvedAt', 64],
  ] as const) {
    const value: unknown = r?.[field];
    if (typeof value !== 'string' || value.length === 0) return `${field} must be a non-empty string`;
    const problem = textProblem(value);
    if (problem) return `${field} ${problem}`;
    if ([...value].length > max) return `${field} is longer than ${max} characters`;
  }
  return undefined;
}
