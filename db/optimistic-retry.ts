import { setTimeout as sleep } from 'node:timers/promises';
import { BusinessError, BusinessRuleError, ContentionError } from '../domain/errors';
import { isCheckViolation, isDataError, isRetryableConflict, isUniqueViolation, sqlState } from './errors';

/** Thrown inside a transaction when a versioned UPDATE matched no row: someone else won the race. */
export class LostRace extends Error {
  override name = 'LostRace';
}

/** Process-wide count of lost races that were retried; exported as a metric. */
export const conflictStats = { retried: 0, exhausted: 0 };

const isConflict = (err: unknown) => err instanceof LostRace || isRetryableConflict(err) || isUniqueViolation(err);

/**
 * Re-runs a whole read-modify-write transaction after a lost race, with exponential backoff and
 * full jitter. Past the bound it throws ContentionError: an activity's retry or the client's takes over.
 */
export async function retryOnConflict<T>(work: () => Promise<T>, { attempts = 12, baseDelayMs = 4, maxDelayMs = 250 } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (isDataError(err) || isCheckViolation(err)) {
        // The same values fail the same way on every retry: say so instead of retrying forever.
        const message = err instanceof Error ? err.message : String(err);
        throw new BusinessRuleError(BusinessError.DataError, `PostgreSQL refused a value (SQLSTATE ${sqlState(err)}): ${message}`, { sqlState: sqlState(err) });
      }
      if (!isConflict(err)) throw err;
      if (attempt >= attempts) {
        conflictStats.exhausted++;
        throw new ContentionError(`still losing optimistic-lock races after ${attempts} attempts`);
      }
      conflictStats.retried++;
      const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
      await sleep(Math.random() * ceiling);
    }
  }
}
