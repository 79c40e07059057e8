import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import { OperatorRefusal, sagaHandlers, type CheckBackState, type ReviewResolution, type SagaProgress } from '../../contract/saga-kit';
import { describeFailure, isBusinessFailure, reasonCategory, SagaAbort, unknownUnlessCancelled } from './failures';
import { kitMetrics } from './metrics';
import { resolutionProblem } from './resolution';

type AnyProgress = SagaProgress<string, string, string>;
type StepOf<S extends AnyProgress> = S['stepsApplied'][number];
type PhaseOf<S extends AnyProgress> = Exclude<S['currentStep'], StepOf<S> | 'compensate' | 'review' | 'done'>;
type Identity<S extends AnyProgress> = Omit<S, keyof AnyProgress>;

/**
 * A step that changes money or stock. Its compensation is registered before it runs (a step that timed out
 * may still have applied). Its activities must be idempotent by the saga's key and fenced (`step-fence.ts`):
 * the action applies at most once and never after its compensation; the compensation undoes at most once and,
 * for a step that never applied, writes the fence instead. A run that fails other than by a business failure
 * is in doubt: `checkBack` reads whether it applied, up to `maxCheckBacks` times on durable timers.
 */
export interface CompensableStep<C, Step extends string> {
  step: Step;
  run: (c: C) => Promise<unknown>;
  /** Retried until done, never cancelled; answers its outcome (compensated, fenced, …). */
  compensate: (c: C) => Promise<string>;
  /** Without one, a step in doubt is compensated at once: its fence makes that safe. */
  checkBack?: (c: C, check: number, of: number) => Promise<CheckBackState>;
}

/** Anything else the saga does on its way: bookkeeping, a wait, the commit. Not compensated. */
export interface Phase<C, P extends string> {
  phase: P;
  run: (c: C) => Promise<unknown>;
}

export type SagaEntry<C, S extends AnyProgress> = CompensableStep<C, StepOf<S>> | Phase<C, PhaseOf<S>>;

export interface SagaDefinition<C, S extends AnyProgress> {
  identity: Identity<S>;
  states: { running: S['state']; compensating: S['state']; completed: S['state']; compensated: S['state'] };
  /** Upserted at every change of state; the first is skipped when intake already set `stateKey` at the start. */
  searchAttributes: (status: S) => SearchAttributeUpdatePair[];
  stateKey: SearchAttributeKey<typeof SearchAttributeType.KEYWORD>;
  /** At most `max` check-backs of a step in doubt, `intervalMs` apart on a durable timer. */
  checkBacks: { max: number; intervalMs: number };
  /** The last write of a compensated saga; answers a review reason when it had to flag what it stored. */
  finally: { phase: PhaseOf<S>; run: (c: C, status: S) => Promise<string | undefined> };
  /** Whether a flagged saga waits for an operator's resolution (sagas recorded before that did not). */
  awaitsReview: () => boolean;
  details: (status: S) => string;
  metrics: { completed(): void; compensated(reason: string): void };
}

/**
 * The saga engine: runs the entries in order inside a non-cancellable scope (a workflow cancel is a decision
 * the saga takes, see `cancelRequested`), and on any failure runs the registered compensations in reverse,
 * each retried until done, then the definition's `finally`. Its status query, `checkBackNow` and `resolve`
 * updates, search attributes, current details and metrics come with it.
 */
export class Saga<C, S extends AnyProgress> {
  readonly status: S;
  private readonly undo: { step: StepOf<S>; run: () => Promise<string> }[] = [];
  private readonly root = CancellationScope.current();
  private inDoubt: { step: StepOf<S>; checked: number; last?: CheckBackState } | undefined;
  private checkNow = false;
  private awaitingReview = false;

  constructor(private readonly def: SagaDefinition<C, S>) {
    this.status = {
      ...def.identity,
      state: def.states.running,
      currentStep: 'open',
      stepsApplied: [],
      compensationsDone: [],
      checkBacksUsed: 0,
      needsReview: false,
    } as unknown as S;
    const handlers = sagaHandlers<Identity<S>, StepOf<S>, S>();
    setHandler(handlers.status, () => this.status);
    setHandler(handlers.checkBackNow, () => this.checkBackNow(), {
      validator: () => {
        if (!this.inDoubt) throw this.refusal(OperatorRefusal.NotCheckingBack, `${this.name} has no step in doubt (${this.status.state})`);
      },
    });
    setHandler(handlers.resolve, (resolution) => this.resolve(resolution), {
      validator: (resolution: ReviewResolution | undefined) => {
        if (!this.awaitingReview) throw this.refusal(OperatorRefusal.NotAwaitingReview, `${this.name} is not awaiting review (${this.status.state})`);
        const problem = resolutionProblem(resolution);
        if (problem) throw this.refusal(OperatorRefusal.InvalidResolution, problem);
      },
    });
    if (workflowInfo().typedSearchAttributes.get(def.stateKey) === undefined) this.publish(def.states.running);
  }

  /** A workflow cancel was asked for: the saga finishes the step it is on and then decides to compensate. */
  cancelRequested(): boolean {
    return this.root.consideredCancelled;
  }

  ended(): boolean {
    return this.status.state === this.def.states.completed || this.status.state === this.def.states.compensated;
  }

  publish(state: S['state']): void {
    this.status.state = state;
    this.showDetails();
    upsertSearchAttributes(this.def.searchAttributes(this.status));
  }

  showDetails(): void {
    setCurrentDetails(this.def.details(this.status));
  }

  /** A refusal for an update's validator, with the saga's state and step as its details. */
  refusal(type: string, message: string, details: Record<string, unknown> = {}): ApplicationFailure {
    return ApplicationFailure.create({
      type,
      message,
      nonRetryable: true,
      details: [{ state: this.status.state, currentStep: this.status.currentStep, ...details }],
    });
  }

  async run(context: C, entries: SagaEntry<C, S>[]): Promise<S> {
    try {
      await CancellationScope.nonCancellable(async () => {
        for (const entry of entries) await ('step' in entry ? this.runStep(context, entry) : this.runPhase(context, entry));
      });
      this.status.currentStep = 'done';
      this.publish(this.def.states.completed);
      this.def.metrics.completed();
    } catch (err) {
      await this.compensate(context, err);
    }
    await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
    return this.status;
  }

  private get name(): string {
    return Object.values(this.def.identity as Record<string, string>).join(' ');
  }

  private async runPhase(context: C, { phase, run }: Phase<C, PhaseOf<S>>): Promise<void> {
    this.status.currentStep = phase;
    await run(context);
  }

  private async runStep(context: C, entry: CompensableStep<C, StepOf<S>>): Promise<void> {
    const { step } = entry;
    this.undo.unshift({ step, run: () => entry.compensate(context) });
    this.status.currentStep = step;
    try {
      await entry.run(context);
    } catch (err) {
      if (isBusinessFailure(err) || isCancellation(err)) throw err;
      const cause = describeFailure(err);
      if (!entry.checkBack) throw new SagaAbort(`${step} in doubt (${cause})`, 'step_in_doubt');
      log.warn('step in doubt; checking back', { ...this.def.identity, step, error: cause });
      await this.checkBack(step, cause, (check, of) => entry.checkBack!(context, check, of));
    }
    this.status.stepsApplied.push(step);
    this.showDetails();
  }

  /** Never discards: `applied` goes on, any other answer compensates, and exhausted check-backs compensate flagged. */
  private async checkBack(step: StepOf<S>, cause: string, check: (n: number, of: number) => Promise<CheckBackState>): Promise<void> {
    const { max, intervalMs } = this.def.checkBacks;
    const doubt: NonNullable<typeof this.inDoubt> = (this.inDoubt = { step, checked: 0 });
    try {
      for (let n = 1; n <= max; n++) {
        this.status.checkBacksUsed++;
        this.showDetails();
        const state = await check(n, max).catch(unknownUnlessCancelled('unknown' as const));
        kitMetrics.checkedBack(step, state);
        doubt.last = state;
        doubt.checked++;
        if (state === 'applied') return;
        if (state !== 'unknown') throw new SagaAbort(`${step} did not apply (${cause})`, 'step_not_applied');
        if (n < max) {
          this.status.nextCheckBackAt = new Date(Date.now() + intervalMs).toISOString();
          await this.pause(intervalMs);
          delete this.status.nextCheckBackAt;
        }
      }
    } finally {
      this.inDoubt = undefined;
      delete this.status.nextCheckBackAt;
    }
    throw new SagaAbort(`${step} outcome unknown after ${max} check-backs (${cause})`, 'step_in_doubt', `${step} in doubt after ${max} check-backs`);
  }

  /** The wait between check-backs: a workflow cancel ends it (the saga compensates), and so does an operator's check-back-now. */
  private async pause(intervalMs: number): Promise<void> {
    if (!this.cancelRequested() && !this.checkNow) await condition(() => this.cancelRequested() || this.checkNow, intervalMs);
    this.checkNow = false;
    if (this.cancelRequested()) throw new SagaAbort('saga cancelled', 'saga_cancelled');
  }

  private async checkBackNow() {
    const doubt = this.inDoubt!;
    const before = doubt.checked;
    // While a check-back runs, its answer is the one asked for.
    if (this.status.nextCheckBackAt) this.checkNow = true;
    await CancellationScope.nonCancellable(() => condition(() => doubt.checked > before || this.inDoubt !== doubt));
    const state: CheckBackState = doubt.checked > before ? doubt.last! : 'unknown';
    return { ...this.def.identity, step: doubt.step, state, checkBacksUsed: this.status.checkBacksUsed };
  }

  private resolve(resolution: ReviewResolution): S {
    this.awaitingReview = false;
    this.status.resolution = resolution;
    this.status.needsReview = false;
    this.publish(this.status.state);
    return this.status;
  }

  private flag(reviewReason: string): void {
    this.status.needsReview = true;
    this.status.reviewReason = reviewReason;
  }

  private async compensate(context: C, err: unknown): Promise<void> {
    const { status } = this;
    status.reason = describeFailure(err);
    if (err instanceof SagaAbort && err.reviewReason) this.flag(err.reviewReason);
    log.info('compensating', { ...this.def.identity, reason: status.reason });
    await CancellationScope.nonCancellable(async () => {
      status.currentStep = 'compensate';
      this.publish(this.def.states.compensating);
      for (const { step, run } of this.undo) {
        // Retried until done by its activity profile; a non-retryable failure here is a broken invariant and fails the saga loudly.
        const outcome = await run();
        status.compensationsDone.push({ step, outcome });
        this.showDetails();
        kitMetrics.compensated(step, outcome);
      }
      status.currentStep = this.def.finally.phase;
      const reviewReason = await this.def.finally.run(context, status);
      if (reviewReason && !status.needsReview) this.flag(reviewReason);
    });
    this.publish(this.def.states.compensated);
    this.def.metrics.compensated(reasonCategory(err));
    if (status.needsReview && this.def.awaitsReview()) {
      status.currentStep = 'review';
      this.awaitingReview = true;
      this.showDetails();
      await CancellationScope.nonCancellable(() => condition(() => status.resolution !== undefined));
    }
    status.currentStep = 'done';
    this.showDetails();
  }
}
