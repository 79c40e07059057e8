import type { Queryable } from './pool';

export interface OutboxEvent {
  eventId: string;
  orderId: string;
  topic: string;
  key: string;
  eventType: string;
  payload: Record<string, unknown>;
}

/** One terminal event per order: the unique order_id makes a second insert a no-op. */
export async function insertOutboxEvent(db: Queryable, e: OutboxEvent): Promise<void> {
  await db.query(
    `insert into outbox (event_id, order_id, topic, key, event_type, payload) values ($1, $2, $3, $4, $5, $6)
     on conflict (order_id) do nothing`,
    [e.eventId, e.orderId, e.topic, e.key, e.eventType, JSON.stringify(e.payload)],
  );
}
