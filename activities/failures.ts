import { ApplicationFailure } from '@temporalio/common';
import { BusinessRuleError, ContentionError } from '../domain/errors';

/** What the workflow sees of an activity's error: business rules are final, contention is retried by Temporal. */
export function asActivityFailure(err: unknown): unknown {
  if (err instanceof BusinessRuleError) {
    return ApplicationFailure.create({ type: err.type, message: err.message, nonRetryable: true, details: err.details ? [err.details] : undefined });
  }
  if (err instanceof ContentionError) return ApplicationFailure.create({ type: err.type, message: err.message, nonRetryable: false });
  return err;
}

/** Each activity with its errors turned into the failures the workflow's retry policies expect. */
export function withActivityFailures<T extends Record<string, (...args: never[]) => Promise<unknown>>>(activities: T): T {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: Parameters<typeof fn>) => {
        try {
          return await fn(...args);
        } catch (err) {
          throw asActivityFailure(err);
        }
      },
    ]),
  ) as T;
}
