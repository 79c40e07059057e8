import type { SagaStep, StepState } from '../domain/order';
import type { Queryable } from './pool';

/** An order's step records, as check-backs read them, for the operator's status view. */
export async function selectSagaSteps(db: Queryable, orderId: string): Promise<{ step: SagaStep; state: StepState; updated_at: Date }[]> {
  const { rows } = await db.query<{ step: SagaStep; state: StepState; updated_at: Date }>(
    'select step, state, updated_at from saga_steps where order_id = $1 order by created_at, step',
    [orderId],
  );
  return rows;
}
