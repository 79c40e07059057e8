import { ActivityFailure, ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { businessErrorTypes } from '../../domain/errors';

/** Why a saga ended its forward path itself. The kit's own; a saga may add its own (an order adds `requested`, `window_expired`). */
export type KitAbortReason = 'saga_cancelled' | 'step_not_applied' | 'step_in_doubt';

/** Ends a saga's forward path: the kit compensates, and flags the saga for review when `reviewReason` is set. */
export class SagaAbort extends Error {
  constructor(
    message: string,
    readonly why: string,
    readonly reviewReason?: string,
  ) {
    super(message);
  }
}

/** An activity's own failure: wrapped in an ActivityFailure, or bare from a local activity. */
export function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure ? cause : undefined;
}

/** A business failure means the step did not apply: no check-back needed. */
export function isBusinessFailure(err: unknown): boolean {
  return businessErrorTypes.includes(applicationFailureOf(err)?.type ?? '');
}

export function describeFailure(err: unknown): string {
  if (err instanceof SagaAbort) return err.message;
  const failure = applicationFailureOf(err);
  if (failure) return `${failure.type ?? 'Error'}: ${failure.message}`;
  if (isCancellation(err)) return 'saga cancelled';
  return err instanceof Error ? err.message : String(err);
}

/** A business failure's type in snake case (out_of_stock, insufficient_funds, …); any other type is `failure`. */
export function businessReason(type: string | null | undefined): string {
  if (!type || !businessErrorTypes.includes(type)) return 'failure';
  return type.replace(/(?<=[a-z])(?=[A-Z])/g, '_').toLowerCase();
}

/** The bounded label a compensated saga is counted under: never the free text it stores. */
export function reasonCategory(err: unknown): string {
  if (err instanceof SagaAbort) return err.why;
  if (isCancellation(err)) return 'saga_cancelled';
  return businessReason(applicationFailureOf(err)?.type);
}

/** A failed status read counts as "unknown"; a cancellation of the saga is not swallowed. */
export function unknownUnlessCancelled<T>(fallback: T): (err: unknown) => T {
  return (err) => {
    if (isCancellation(err)) throw err;
    return fallback;
  };
}
