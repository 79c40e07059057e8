-- One row per source record the Kafka intake dead-letters, so a redelivered record is not sent twice.
-- produced_at stays null until the broker has acknowledged the DLQ record.
create table dead_letters (
  source_topic     text not null,
  source_partition integer not null check (source_partition >= 0),
  source_offset    bigint not null check (source_offset >= 0),
  error            text not null,
  reason           text not null,
  grpc_code        integer,
  first_seen_at    timestamptz not null default now(),
  produced_at      timestamptz,
  primary key (source_topic, source_partition, source_offset)
);
