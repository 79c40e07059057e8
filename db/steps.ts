import type { SagaStep, StepState } from '../domain/order';
import type { RefundStep } from '../domain/refund';
import type { Queryable } from './pool';

/** An order's steps and a refund's, each under its saga's key (an order ID, or refundStepKey). */
export type StepName = SagaStep | RefundStep;

export interface StepRow {
  state: StepState;
  detail: Record<string, unknown>;
}

/** Locks the step's row (if any) for the rest of the transaction. */
export async function selectStepForUpdate(db: Queryable, orderId: string, step: StepName): Promise<StepRow | undefined> {
  const { rows } = await db.query<StepRow>('select state, detail from saga_steps where order_id = $1 and step = $2 for update', [orderId, step]);
  return rows[0];
}

export async function selectStep(db: Queryable, orderId: string, step: StepName): Promise<StepRow | undefined> {
  const { rows } = await db.query<StepRow>('select state, detail from saga_steps where order_id = $1 and step = $2', [orderId, step]);
  return rows[0];
}

/** Fails with 23505 when a concurrent action or compensation got there first; the caller retries. */
export async function insertStep(db: Queryable, s: { orderId: string; step: StepName; state: StepState; detail?: Record<string, unknown> }): Promise<void> {
  await db.query('insert into saga_steps (order_id, step, state, detail) values ($1, $2, $3, $4)', [
    s.orderId,
    s.step,
    s.state,
    JSON.stringify(s.detail ?? {}),
  ]);
}

export async function updateStepState(db: Queryable, s: { orderId: string; step: StepName; state: StepState }): Promise<void> {
  await db.query('update saga_steps set state = $3, updated_at = now() where order_id = $1 and step = $2', [s.orderId, s.step, s.state]);
}
