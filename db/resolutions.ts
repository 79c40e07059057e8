import type { Queryable } from './pool';

export interface ResolutionRow {
  order_id: string;
  review_reason: string;
  resolved_by: string;
  note: string;
  resolved_at: Date;
}

export interface FlaggedOrderRow {
  id: string;
  customer_id: string;
  status: string;
  total_cents: number;
  review_reason: string | null;
  updated_at: Date;
}

/** Undefined when the order already has a resolution: there is one per order, and it is never replaced. */
export async function insertResolution(
  db: Queryable,
  r: { orderId: string; reviewReason: string; resolvedBy: string; note: string },
): Promise<ResolutionRow | undefined> {
  const { rows } = await db.query<ResolutionRow>(
    `insert into order_resolutions (order_id, review_reason, resolved_by, note) values ($1, $2, $3, $4)
     on conflict (order_id) do nothing returning *`,
    [r.orderId, r.reviewReason, r.resolvedBy, r.note],
  );
  return rows[0];
}

export async function selectResolution(db: Queryable, orderId: string): Promise<ResolutionRow | undefined> {
  const { rows } = await db.query<ResolutionRow>('select * from order_resolutions where order_id = $1', [orderId]);
  return rows[0];
}

export async function clearReviewFlag(db: Queryable, orderId: string): Promise<boolean> {
  const { rowCount } = await db.query('update orders set needs_review = false, version = version + 1, updated_at = now() where id = $1 and needs_review', [
    orderId,
  ]);
  return rowCount === 1;
}

/** Oldest first: the order that has waited longest for a person comes first. */
export async function selectFlaggedOrders(db: Queryable, limit: number): Promise<FlaggedOrderRow[]> {
  const { rows } = await db.query<FlaggedOrderRow>(
    `select id, customer_id, status, total_cents, review_reason, updated_at from orders
      where needs_review order by updated_at, id limit $1`,
    [limit],
  );
  return rows;
}
