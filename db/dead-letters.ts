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

export interface DeadLetterListing extends SourceRecord {
  error: string;
  reason: string;
  grpc_code: number | null;
  first_seen_at: Date;
}

export interface DeadLetterFilter {
  /** Source records as `topic/partition/offset` (the x-dlq-id). */
  ids?: SourceRecord[];
  since?: Date;
  error?: string;
  /** A piece of the reason, matched case-insensitively. */
  reasonContains?: string;
  limit: number;
}

const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** The filter as SQL over $1–$6; `replayed` picks records a replay re-submitted, or those it has not. */
const filterSql = (replayed: boolean) => `produced_at is not null and replayed_at is ${replayed ? 'not ' : ''}null
  and ($1::text[] is null or (source_topic, source_partition, source_offset) in (select * from unnest($1::text[], $2::int[], $3::bigint[])))
  and ($4::timestamptz is null or first_seen_at >= $4)
  and ($5::text is null or error = $5)
  and ($6::text is null or reason ilike $6)`;

const filterParams = (f: Omit<DeadLetterFilter, 'limit'>) => [
  f.ids?.map((s) => s.topic) ?? null,
  f.ids?.map((s) => s.partition) ?? null,
  f.ids?.map((s) => s.offset) ?? null,
  f.since ?? null,
  f.error ?? null,
  f.reasonContains === undefined ? null : likePattern(f.reasonContains),
];

/** Dead-lettered records the broker acknowledged and no replay has re-submitted yet, oldest first. */
export async function selectReplayableDeadLetters(db: Queryable, f: DeadLetterFilter): Promise<DeadLetterListing[]> {
  const { rows } = await db.query<DeadLetterListing>(
    `select source_topic as topic, source_partition as partition, source_offset::text as offset, error, reason, grpc_code, first_seen_at
       from dead_letters where ${filterSql(false)}
      order by first_seen_at, source_topic, source_partition, source_offset limit $7`,
    [...filterParams(f), f.limit],
  );
  return rows;
}

/** How many records matching the filter a replay re-submitted before. */
export async function countReplayedDeadLetters(db: Queryable, f: Omit<DeadLetterFilter, 'limit'>): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from dead_letters where ${filterSql(true)}`, filterParams(f));
  return rows[0]!.n;
}

/** Records the replay's start; false when another replay recorded it first. */
export async function markDeadLetterReplayed(db: Queryable, s: SourceRecord & { outcome: 'started' | 'duplicate'; runId: string }): Promise<boolean> {
  const { rowCount } = await db.query(
    `update dead_letters set replayed_at = now(), replay_outcome = $4, replay_run_id = $5
      where source_topic = $1 and source_partition = $2 and source_offset = $3 and replayed_at is null`,
    [s.topic, s.partition, s.offset, s.outcome, s.runId],
  );
  return rowCount === 1;
}
