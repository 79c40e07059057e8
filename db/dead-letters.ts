import type { Queryable } from './pool';

/** A source record of the Kafka intake; the offset is a string, as kafkajs gives it. */
export interface SourceRecord {
  topic: string;
  partition: number;
  offset: string;
}

export interface DeadLetterRow {
  error: string;
  produced_at: Date | null;
}

/** Records that the source record is to be dead-lettered; a no-op if it already was. */
export async function insertDeadLetter(db: Queryable, d: SourceRecord & { error: string; reason: string; grpcCode?: number }): Promise<void> {
  await db.query(
    `insert into dead_letters (source_topic, source_partition, source_offset, error, reason, grpc_code)
     values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
    [d.topic, d.partition, d.offset, d.error, d.reason, d.grpcCode ?? null],
  );
}

/** Locks the row for the rest of the transaction: two consumers of one partition send at most once between them. */
export async function selectDeadLetterForUpdate(db: Queryable, s: SourceRecord): Promise<DeadLetterRow | undefined> {
  const { rows } = await db.query<DeadLetterRow>(
    `select error, produced_at from dead_letters
      where source_topic = $1 and source_partition = $2 and source_offset = $3 for update`,
    [s.topic, s.partition, s.offset],
  );
  return rows[0];
}

export async function markDeadLetterProduced(db: Queryable, s: SourceRecord): Promise<void> {
  await db.query(
    `update dead_letters set produced_at = now()
      where source_topic = $1 and source_partition = $2 and source_offset = $3`,
    [s.topic, s.partition, s.offset],
  );
}
