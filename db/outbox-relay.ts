import type { Queryable } from './pool';

export interface PendingEvent {
  event_id: string;
  order_id: string;
  topic: string;
  key: string;
  event_type: string;
  payload: Record<string, unknown>;
}

/** Locks a page of unpublished events; concurrent relays skip each other's rows. */
export async function lockUnpublishedEvents(db: Queryable, limit: number): Promise<PendingEvent[]> {
  const { rows } = await db.query<PendingEvent>(
    `select event_id, order_id, topic, key, event_type, payload from outbox
      where published_at is null order by created_at limit $1 for update skip locked`,
    [limit],
  );
  return rows;
}

export async function markEventsPublished(db: Queryable, eventIds: string[]): Promise<void> {
  await db.query('update outbox set published_at = now() where event_id = any($1::uuid[])', [eventIds]);
}

/** Events not yet published: the relay's backlog (the partial index on unpublished rows answers it). */
export async function countUnpublishedEvents(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ count: string }>('select count(*) from outbox where published_at is null');
  return Number(rows[0]!.count);
}
