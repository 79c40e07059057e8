import type { ConfirmationDecision, ConfirmationMode, OrderItem, OrderStatus } from '../domain/order';
import type { Queryable } from './pool';

export interface OrderRow {
  id: string;
  customer_id: string;
  items: OrderItem[];
  total_cents: number;
  /** What refunds have credited; the database keeps it within total_cents. */
  refunded_cents: number;
  /** The cashback refunds took back, in proportion to what they refunded. */
  reward_taken_back_cents: number;
  /** The refund that put the order's goods back on sale, once it was refunded in full. */
  restocked_by: string | null;
  status: OrderStatus;
  confirmation: ConfirmationMode;
  confirmation_decision: ConfirmationDecision | null;
  cancel_reason: string | null;
  needs_review: boolean;
  review_reason: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export async function insertPendingOrder(
  db: Queryable,
  o: { id: string; customerId: string; items: OrderItem[]; totalCents: number; confirmation: ConfirmationMode },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into orders (id, customer_id, items, total_cents, status, confirmation)
     values ($1, $2, $3, $4, 'PENDING', $5) on conflict (id) do nothing`,
    [o.id, o.customerId, JSON.stringify(o.items), o.totalCents, o.confirmation],
  );
  return rowCount === 1;
}

export async function selectOrder(db: Queryable, id: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>('select * from orders where id = $1', [id]);
  return rows[0];
}

export type OrderOutcomeRow = Pick<OrderRow, 'status' | 'cancel_reason' | 'needs_review'>;

export async function selectOrderOutcome(db: Queryable, id: string): Promise<OrderOutcomeRow | undefined> {
  const { rows } = await db.query<OrderOutcomeRow>('select status, cancel_reason, needs_review from orders where id = $1', [id]);
  return rows[0];
}

export async function selectOrderForUpdate(db: Queryable, id: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>('select * from orders where id = $1 for update', [id]);
  return rows[0];
}

export async function updateOrderStatus(
  db: Queryable,
  u: { id: string; version: number; status: OrderStatus; cancelReason?: string; reviewReason?: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update orders set status = $3, cancel_reason = $4, needs_review = $5, review_reason = $6,
            version = version + 1, updated_at = now()
      where id = $1 and version = $2`,
    [u.id, u.version, u.status, u.cancelReason ?? null, u.reviewReason !== undefined, u.reviewReason ?? null],
  );
  return rowCount === 1;
}

/** The first decision wins, and only while the order is open; returns the decision that stands (undefined: not open). */
export async function recordConfirmationDecision(
  db: Queryable,
  d: { id: string; decision: ConfirmationDecision },
): Promise<ConfirmationDecision | null | undefined> {
  const { rows } = await db.query<{ confirmation_decision: ConfirmationDecision | null }>(
    `update orders set confirmation_decision = coalesce(confirmation_decision, $2), updated_at = now()
      where id = $1 and status = 'PENDING' returning confirmation_decision`,
    [d.id, d.decision],
  );
  return rows[0]?.confirmation_decision;
}

/** Optimistic lock; PostgreSQL's check refuses a refunded sum past the order's total (SQLSTATE 23514). */
export async function updateOrderRefunds(
  db: Queryable,
  u: { id: string; version: number; refundedCents: number; rewardTakenBackCents: number },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update orders set refunded_cents = $3, reward_taken_back_cents = $4, version = version + 1, updated_at = now() where id = $1 and version = $2`,
    [u.id, u.version, u.refundedCents, u.rewardTakenBackCents],
  );
  return rowCount === 1;
}

export async function updateRestockedBy(db: Queryable, u: { id: string; version: number; restockedBy: string | null }): Promise<boolean> {
  const { rowCount } = await db.query(`update orders set restocked_by = $3, version = version + 1, updated_at = now() where id = $1 and version = $2`, [
    u.id,
    u.version,
    u.restockedBy,
  ]);
  return rowCount === 1;
}
