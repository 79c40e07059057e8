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
  run_id: string | null;
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

/** The newest `limit` refunds of the order, oldest first, and how many it has in all. */
export async function selectRecentRefundsOfOrder(db: Queryable, orderId: string, limit: number): Promise<{ refunds: RefundRow[]; total: number }> {
  const { rows } = await db.query<RefundRow & { total: string }>(
    `select * from (select *, count(*) over () as total from refunds where order_id = $1 order by created_at desc, id desc limit $2) r
      order by created_at, id`,
    [orderId, limit],
  );
  return { refunds: rows.map(({ total: _total, ...row }) => row), total: rows.length ? Number(rows[0]!.total) : 0 };
}

/**
 * What the order's live refunds ask for in all: refunded, started, or stored within `leaseSeconds` (its start
 * may still be on its way). A row whose start never came back past its lease holds no share of the cap.
 */
export async function selectRequestedRefundCents(db: Queryable, orderId: string, leaseSeconds: number): Promise<number> {
  const { rows } = await db.query<{ cents: string }>(
    `select coalesce(sum(amount_cents), 0) as cents from refunds
      where order_id = $1
        and (status = 'REFUNDED' or (status = 'PENDING' and (run_id is not null or created_at > now() - make_interval(secs => $2))))`,
    [orderId, leaseSeconds],
  );
  return Number(rows[0]!.cents);
}

/**
 * Pending refunds stored more than `leaseSeconds` ago whose start never came back, oldest first, locked for
 * this transaction; rows another sweep holds are skipped.
 */
export async function lockUnstartedRefunds(db: Queryable, leaseSeconds: number, limit: number): Promise<RefundRow[]> {
  const { rows } = await db.query<RefundRow>(
    `select * from refunds
      where status = 'PENDING' and run_id is null and created_at < now() - make_interval(secs => $1)
      order by created_at limit $2
      for update skip locked`,
    [leaseSeconds, limit],
  );
  return rows;
}

/** Temporal acknowledged the refund's start. */
export async function markRefundStarted(db: Queryable, s: { id: string; runId: string }): Promise<void> {
  await db.query('update refunds set run_id = $2 where id = $1 and run_id is null', [s.id, s.runId]);
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
