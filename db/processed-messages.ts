import type { OrderStatus } from '../domain/order';
import type { Queryable } from './pool';

export interface ProcessedMessageRow {
  message_id: string;
  workflow_id: string;
  /** null while the start is in flight, or when its outcome is unknown. */
  run_id: string | null;
  source: 'rest' | 'kafka';
  fingerprint: string;
  first_seen_at: Date;
  /** How long ago the current claim was taken, by the database's clock. */
  claim_age_ms: number;
}

export async function selectProcessedMessage(db: Queryable, messageId: string): Promise<ProcessedMessageRow | undefined> {
  const { rows } = await db.query<ProcessedMessageRow>(
    `select message_id, workflow_id, run_id, source, fingerprint, first_seen_at,
            (extract(epoch from now() - claimed_at) * 1000)::float8 as claim_age_ms
       from processed_messages where message_id = $1`,
    [messageId],
  );
  return rows[0];
}

/** A message started before, with its order's status if the saga has written it: what a copy is answered with, in one round trip. */
export interface StartedMessageRow {
  run_id: string;
  fingerprint: string;
  status: OrderStatus | null;
  cancel_reason: string | null;
  needs_review: boolean | null;
}

export async function selectStartedMessage(db: Queryable, messageId: string): Promise<StartedMessageRow | undefined> {
  const { rows } = await db.query<StartedMessageRow>(
    `select p.run_id, p.fingerprint, o.status, o.cancel_reason, o.needs_review
       from processed_messages p left join orders o on o.id = p.message_id
      where p.message_id = $1 and p.run_id is not null`,
    [messageId],
  );
  return rows[0];
}

/** Claims the message ID for this content; false when it was already claimed (a duplicate or a conflict). */
export async function insertProcessedMessage(
  db: Queryable,
  m: { messageId: string; workflowId: string; source: 'rest' | 'kafka'; fingerprint: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into processed_messages (message_id, workflow_id, source, fingerprint)
     values ($1, $2, $3, $4) on conflict (message_id) do nothing`,
    [m.messageId, m.workflowId, m.source, m.fingerprint],
  );
  return rowCount === 1;
}

/** Records the run a start was acknowledged with; recreates the claim if a failed copy released it meanwhile. */
export async function upsertProcessedRunId(
  db: Queryable,
  m: { messageId: string; workflowId: string; source: 'rest' | 'kafka'; fingerprint: string; runId: string },
): Promise<void> {
  await db.query(
    `insert into processed_messages (message_id, workflow_id, source, fingerprint, run_id) values ($1, $2, $3, $4, $5)
     on conflict (message_id) do update set run_id = coalesce(processed_messages.run_id, excluded.run_id)
      where processed_messages.fingerprint = excluded.fingerprint`,
    [m.messageId, m.workflowId, m.source, m.fingerprint, m.runId],
  );
}

/** Takes over an unresolved claim older than `staleMs`; only one of several concurrent callers succeeds. */
export async function takeOverStaleClaim(db: Queryable, m: { messageId: string; fingerprint: string; staleMs: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `update processed_messages set claimed_at = now()
      where message_id = $1 and fingerprint = $2 and run_id is null and claimed_at < now() - make_interval(secs => $3)`,
    [m.messageId, m.fingerprint, m.staleMs / 1000],
  );
  return rowCount === 1;
}

/** Releases a claim whose start certainly did not happen, so the message ID is free again. */
export async function deleteUnstartedMessage(db: Queryable, m: { messageId: string; fingerprint: string }): Promise<void> {
  await db.query('delete from processed_messages where message_id = $1 and fingerprint = $2 and run_id is null', [m.messageId, m.fingerprint]);
}
