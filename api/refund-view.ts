import type { RefundRow } from '../db/refunds';

export function refundViewOf(row: RefundRow) {
  return {
    refundId: row.id,
    orderId: row.order_id,
    amountCents: row.amount_cents,
    reason: row.reason,
    status: row.status,
    rejectReason: row.reject_reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
