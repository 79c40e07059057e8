import { defineQuery, defineUpdate } from '@temporalio/workflow';

/** What every saga built on the kit (`workflows/kit`) shows and answers: safe to import from workflow code. */

/** What a check-back found: the step applied, did not, was undone or fenced, or nobody can tell yet. */
export type CheckBackState = 'applied' | 'not-applied' | 'compensated' | 'fenced' | 'unknown';

/** A saga's progress, as its status query answers it. `I` names the saga (an order's `{ orderId }`). */
export interface SagaProgress<Step extends string, State extends string, Phase extends string> {
  state: State;
  currentStep: Phase;
  stepsApplied: Step[];
  compensationsDone: { step: Step; outcome: string }[];
  checkBacksUsed: number;
  /** While a step in doubt waits for its next check-back (an operator may ask for it now). */
  nextCheckBackAt?: string;
  reason?: string;
  needsReview: boolean;
  reviewReason?: string;
  /** An operator's resolution of a flagged saga, which waits for it before it completes. */
  resolution?: ReviewResolution;
}

/** The phases the kit itself moves a saga through, besides its steps. */
export type KitPhase = 'compensate' | 'review' | 'done';

/** An operator's resolution as PostgreSQL stored it: never edited. */
export interface ReviewResolution {
  resolvedBy: string;
  note: string;
  resolvedAt: string;
}

/** The outcome of a check-back an operator asked for. */
export type CheckBackOutcome<I, Step extends string> = I & { step: Step; state: CheckBackState; checkBacksUsed: number };

/** Why a saga refused an operator's request; the update's failure carries it as its type. */
export const OperatorRefusal = {
  NotAwaitingReview: 'NotAwaitingReview',
  NotCheckingBack: 'NotCheckingBack',
  InvalidResolution: 'InvalidResolution',
} as const;

/**
 * The kit's query and updates, typed for one saga. `status` answers its progress; `checkBackNow` ends the wait between two check-backs of a step in
 * doubt and answers what the check found; `resolve` takes the resolution of a saga flagged for review, which
 * waits for it, compensated, and then completes.
 */
export function sagaHandlers<I, Step extends string, Status>() {
  return {
    status: defineQuery<Status>('status'),
    checkBackNow: defineUpdate<CheckBackOutcome<I, Step>, []>('checkBackNow'),
    resolve: defineUpdate<Status, [ReviewResolution]>('resolve'),
  };
}
