import { setTimeout as sleep } from 'node:timers/promises';
import { BusinessError, BusinessRuleError, ContentionError } from '../domain/errors';
import { isCheckViolation, isDataError, isRetryableConflict, isUniqueViolation, sqlState } from './errors';

/** Thrown inside a transaction when a versioned UPDATE matched no row: someone else won the race. */
export class LostRace extends Error {
  override name = 'LostRace';
}

/** Process-wide count of lost races: retried, or given up on after the last attempt. */
export const conflictStats = { retried: 0, exhausted: 0 };

export type ConflictOutcome = 'retried' | 'exhausted';
const conflictListeners = new Set<(outcome: ConflictOutcome) => void>();

/** Each process counts its own lost races in its metrics; returns the unsubscribe. */
export function onConflict(listener: (outcome: ConflictOutcome) => void): () => void {
  conflictListeners.add(listener);
  return () => conflictListeners.delete(listener);
}

function lostRace(outcome: ConflictOutcome): void {
  conflictStats[outcome]++;
  for (const listener of conflictListeners) listener(outcome);
}

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
        lostRace('exhausted');
        throw new ContentionError(`still losing optimistic-lock races after ${attempts} attempts`);
      }
      lostRace('retried');
      const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt);
      await sleep(Math.random() * ceiling);
    }
  }
}
