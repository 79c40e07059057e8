import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../activities';

/** The activities whose effect commits in PostgreSQL: a crash between that commit and the reply is the case to prove. */
const committing = [
  'openOrder',
  'reserveStock',
  'debitAccount',
  'commitOrder',
  'cancelOrder',
  'refundDebit',
  'releaseStock',
  'settleConfirmation',
  'creditRefund',
  'reverseRefundCredit',
  'restockRefund',
  'unstockRefund',
  'completeRefund',
  'rejectRefund',
] as const;

/**
 * For chaos runs only (SAGA_FAULT_AFTER_COMMIT_RATE): on that share of attempts, an activity fails after
 * its transaction committed and before it answers, as if the worker died there. Temporal retries it, and
 * the retry must find the effect already applied.
 */
export function injectFaultsAfterCommit(activities: Activities, rate: number): Activities {
  if (!(rate > 0)) return activities;
  const wrapped: Record<string, unknown> = { ...activities };
  for (const name of committing) {
    const real = activities[name] as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = async (...args: unknown[]) => {
      const result = await real(...args);
      if (Math.random() < rate) {
        log.warn('fault injected: activity committed, reply lost', { fault: 'after-commit' });
        throw ApplicationFailure.retryable(`injected fault: ${name} committed, then its reply was lost`, 'InjectedFault');
      }
      return result;
    };
  }
  return wrapped as Activities;
}
