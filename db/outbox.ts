import type { Queryable } from './pool';

export interface OutboxEvent {
  eventId: string;
  orderId: string;
  topic: string;
  key: string;
  eventType: string;
  payload: Record<string, unknown>;
  /** Set for a refund's event (orderId is then the refunded order's); an order's terminal event has none. */
  refundId?: string;
}

/** One terminal event per order and one per refund (under refundEventKey): the unique order_id makes a second insert a no-op. */
export async function insertOutboxEvent(db: Queryable, e: OutboxEvent): Promise<void> {
  await db.query(
    `insert into outbox (event_id, order_id, topic, key, event_type, payload, refund_id) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (order_id) do nothing`,
    [e.eventId, e.refundId === undefined ? e.orderId : refundEventKey(e.refundId), e.topic, e.key, e.eventType, JSON.stringify(e.payload), e.refundId ?? null],
  );
}

/** Where a refund's event sits in outbox.order_id: no order ID contains '/'. */
export const refundEventKey = (refundId: string): string => `refund/${refundId}`;
