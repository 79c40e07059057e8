import type { RefundStatus } from '../domain/refund';
import type { Queryable } from './pool';

export interface RefundRow {
  id: string;
  order_id: string;
  amount_cents: number;
  reason: string | null;
  fingerprint: string;
  status: RefundStatus;
  reject_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

/** False when the refund ID is taken (by this refund or another): the caller compares fingerprints. */
export async function insertRefund(
  db: Queryable,
  r: { id: string; orderId: string; amountCents: number; reason?: string; fingerprint: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into refunds (id, order_id, amount_cents, reason, fingerprint) values ($1, $2, $3, $4, $5) on conflict (id) do nothing`,
    [r.id, r.orderId, r.amountCents, r.reason ?? null, r.fingerprint],
  );
  return rowCount === 1;
}

export async function selectRefund(db: Queryable, id: string): Promise<RefundRow | undefined> {
  const { rows } = await db.query<RefundRow>('select * from refunds where id = $1', [id]);
  return rows[0];
}

export async function selectRefundForUpdate(db: Queryable, id: string): Promise<RefundRow | undefined> {
  const { rows } = await db.query<RefundRow>('select * from refunds where id = $1 for update', [id]);
  return rows[0];
}

export async function selectRefundsOfOrder(db: Queryable, orderId: string): Promise<RefundRow[]> {
  const { rows } = await db.query<RefundRow>('select * from refunds where order_id = $1 order by created_at, id', [orderId]);
  return rows;
}

/** What the order's refunds not rejected ask for in all: a new refund must fit beside them. */
export async function selectRequestedRefundCents(db: Queryable, orderId: string): Promise<number> {
  const { rows } = await db.query<{ cents: string }>(
    `select coalesce(sum(amount_cents), 0) as cents from refunds where order_id = $1 and status <> 'REJECTED'`,
    [orderId],
  );
  return Number(rows[0]!.cents);
}

/** Ends a pending refund; an ended one keeps its end. Returns whether this call ended it. */
export async function endRefund(db: Queryable, e: { id: string; status: Exclude<RefundStatus, 'PENDING'>; rejectReason?: string }): Promise<boolean> {
  const { rowCount } = await db.query(`update refunds set status = $2, reject_reason = $3, updated_at = now() where id = $1 and status = 'PENDING'`, [
    e.id,
    e.status,
    e.rejectReason ?? null,
  ]);
  return rowCount === 1;
}
