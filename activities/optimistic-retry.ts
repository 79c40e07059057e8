import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { isCheckViolation, isDataError, isRetryableConflict, isUniqueViolation, sqlState } from '../db/errors';
import { BusinessError, VersionConflictType } from '../domain/errors';
import { businessFailure } from './failures';

/** Thrown inside a transaction when a versioned UPDATE matched no row: someone else won the race. */
export class LostRace extends Error {
  override name = 'LostRace';
}

/** Process-wide count of lost races that were retried; exported as a metric. */
export const conflictStats = { retried: 0, exhausted: 0 };

const isConflict = (err: unknown) => err instanceof LostRace || isRetryableConflict(err) || isUniqueViolation(err);

/**
 * Re-runs a whole read-modify-write transaction after a lost race, with exponential backoff and
 * full jitter. When the bound is reached Temporal's own retry takes over (VersionConflict is retryable).
 */
export async function retryOnConflict<T>(work: () => Promise<T>, { attempts = 12, baseDelayMs = 4, maxDelayMs = 250 } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (isDataError(err) || isCheckViolation(err)) {
        // The same values fail the same way on every retry: say so instead of retrying forever.
        const message = err instanceof Error ? err.message : String(err);
        throw businessFailure(BusinessError.DataError, `PostgreSQL refused a value (SQLSTATE ${sqlState(err)}): ${message}`, { sqlState: sqlState(err) });
      }
      if (!isConflict(err)) throw err;
      if (attempt >= attempts) {
        conflictStats.exhausted++;
        throw ApplicationFailure.retryable(`still losing optimistic-lock races after ${attempts} attempts`, VersionConflictType);
      }
      conflictStats.retried++;
      const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
      await sleep(Math.random() * ceiling);
    }
  }
}
