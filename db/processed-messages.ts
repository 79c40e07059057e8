import type { Queryable } from './pool';

export interface ProcessedMessageRow {
  message_id: string;
  workflow_id: string;
  run_id: string | null;
  source: 'rest' | 'kafka';
  fingerprint: string;
  first_seen_at: Date;
}

export async function selectProcessedMessage(db: Queryable, messageId: string): Promise<ProcessedMessageRow | undefined> {
  const { rows } = await db.query<ProcessedMessageRow>('select * from processed_messages where message_id = $1', [messageId]);
  return rows[0];
}

/** Returns false when the message was already recorded (a duplicate delivery). */
export async function insertProcessedMessage(
  db: Queryable,
  m: { messageId: string; workflowId: string; runId: string; source: 'rest' | 'kafka'; fingerprint: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into processed_messages (message_id, workflow_id, run_id, source, fingerprint)
     values ($1, $2, $3, $4, $5) on conflict (message_id) do nothing`,
    [m.messageId, m.workflowId, m.runId, m.source, m.fingerprint],
  );
  return rowCount === 1;
}
