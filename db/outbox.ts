import type { Queryable } from './pool';

export interface OutboxEvent {
  eventId: string;
  orderId: string;
  topic: string;
  key: string;
  eventType: string;
  payload: Record<string, unknown>;
  /** Set for a refund's event; an order's terminal event has none. */
  refundId?: string;
}

/** One terminal event per order and one per refund: the partial unique indexes make a second insert a no-op. */
export async function insertOutboxEvent(db: Queryable, e: OutboxEvent): Promise<void> {
  const target = e.refundId === undefined ? '(order_id) where refund_id is null' : '(refund_id) where refund_id is not null';
  await db.query(
    `insert into outbox (event_id, order_id, topic, key, event_type, payload, refund_id) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict ${target} do nothing`,
    [e.eventId, e.orderId, e.topic, e.key, e.eventType, JSON.stringify(e.payload), e.refundId ?? null],
  );
}
