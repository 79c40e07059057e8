import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { businessErrorTypes } from '../domain/errors';

/** Forward steps: a few attempts, then the saga treats the step as in doubt and checks back. */
export const forwardStep: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: businessErrorTypes,
  },
};

/** Bookkeeping that must eventually happen (open, commit, cancel): retried until done (no attempt limit). */
export const untilDone: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: businessErrorTypes,
  },
};

/** Compensations never give up on transient faults; only a broken invariant stops them. */
export const compensation: ActivityOptions = untilDone;

/** One status read; its failure counts as "unknown" and the next check-back tries again. */
export const checkBack: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 2 },
};

/**
 * The same profiles for the short database steps run as local activities: they run in the worker that
 * holds the workflow task, so an order's steps need no round trip through the server each. A local
 * activity may run again after a worker crash, like any activity: every step is idempotent.
 */
export const localForwardStep: LocalActivityOptions = { startToCloseTimeout: forwardStep.startToCloseTimeout, retry: forwardStep.retry };
export const localUntilDone: LocalActivityOptions = { startToCloseTimeout: untilDone.startToCloseTimeout, retry: untilDone.retry };
