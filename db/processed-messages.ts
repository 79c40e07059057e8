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

/**
 * Returns false when the message was already recorded (a duplicate delivery). A concurrent insert of
 * the same ID waits here until the first transaction ends, which serialises competing starts.
 */
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

export async function updateProcessedRunId(db: Queryable, m: { messageId: string; runId: string }): Promise<void> {
  await db.query('update processed_messages set run_id = $2 where message_id = $1', [m.messageId, m.runId]);
}
