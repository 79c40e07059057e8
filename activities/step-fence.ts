import { retryOnConflict } from '../db/optimistic-retry';
import { withTransaction, type Pool, type Queryable } from '../db/pool';
import { insertStep, selectStepForUpdate, updateStepState, type StepName } from '../db/steps';
import { BusinessError, BusinessRuleError } from '../domain/errors';

export type StepOutcome = 'applied' | 'already-applied';
/** What a check-back answers: the step's row, or `not-applied` (and from then on its fence). */
export type CheckedStepState = 'applied' | 'not-applied' | 'compensated' | 'fenced';
export type CompensationOutcome = 'compensated' | 'fenced' | 'already-compensated' | 'already-fenced';

/**
 * A forward step, once: its effect and its saga_steps row commit together. A step already applied is a
 * no-op; one whose compensation already ran (a fence) is refused, so a late action never applies.
 */
export function applyStepOnce(
  pool: Pool,
  { orderId, step, what }: { orderId: string; step: StepName; what: string },
  apply: (tx: Queryable) => Promise<Record<string, unknown>>,
): Promise<StepOutcome> {
  return retryOnConflict(() =>
    withTransaction(pool, async (tx) => {
      const row = await selectStepForUpdate(tx, orderId, step);
      if (row?.state === 'applied') return 'already-applied';
      if (row) throw new BusinessRuleError(BusinessError.StepFenced, `${what} for ${orderId} was already rolled back`);
      const detail = await apply(tx);
      await insertStep(tx, { orderId, step, state: 'applied', detail });
      return 'applied';
    }),
  );
}

/**
 * A step's compensation, once. With no step recorded it writes a fence and changes nothing else (an empty
 * rollback); otherwise `undo` gets the detail the step stored and the row becomes compensated.
 */
export function compensateStepOnce(
  pool: Pool,
  { orderId, step }: { orderId: string; step: StepName },
  undo: (tx: Queryable, detail: Record<string, unknown>) => Promise<void>,
): Promise<CompensationOutcome> {
  return retryOnConflict(() =>
    withTransaction(pool, async (tx): Promise<CompensationOutcome> => {
      const row = await selectStepForUpdate(tx, orderId, step);
      if (!row) {
        await insertStep(tx, { orderId, step, state: 'fenced' });
        return 'fenced';
      }
      if (row.state !== 'applied') return row.state === 'fenced' ? 'already-fenced' : 'already-compensated';
      await undo(tx, row.detail);
      await updateStepState(tx, { orderId, step, state: 'compensated' });
      return 'compensated';
    }),
  );
}

/**
 * A check-back, made final: a step with no row is fenced in the same transaction, so an attempt still in
 * flight (a timed-out one whose transaction waits on a lock) can no longer apply once the saga was told
 * `not-applied`. An attempt that commits first wins the row, and the check-back reads `applied`.
 */
export function checkStepOnce(pool: Pool, { orderId, step }: { orderId: string; step: StepName }): Promise<CheckedStepState> {
  return retryOnConflict(() =>
    withTransaction(pool, async (tx): Promise<CheckedStepState> => {
      const row = await selectStepForUpdate(tx, orderId, step);
      if (row) return row.state;
      await insertStep(tx, { orderId, step, state: 'fenced' });
      return 'not-applied';
    }),
  );
}
