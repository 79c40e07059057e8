-- Refunds of confirmed orders. The refund ID is the idempotency key; the row is written before its saga
-- starts and says what was asked for (fingerprint), so a copy with other content is refused.
create table refunds (
  id            text primary key check (char_length(id) between 1 and 128),
  order_id      text not null references orders (id),
  amount_cents  bigint not null check (amount_cents > 0 and amount_cents <= 1000000000000),
  reason        text check (char_length(reason) <= 500),
  fingerprint   text not null,
  status        text not null default 'PENDING' check (status in ('PENDING', 'REFUNDED', 'REJECTED')),
  reject_reason text,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create index refunds_order_idx on refunds (order_id, created_at);

-- The cap the database enforces: what a refund's saga has claimed never passes what the order took.
alter table orders
  add column refunded_cents bigint not null default 0,
  add constraint orders_refunded_within_total check (refunded_cents between 0 and total_cents);

-- One terminal event per order and one per refund.
alter table outbox add column refund_id text references refunds (id);
alter table outbox drop constraint outbox_order_id_key;
create unique index outbox_order_event on outbox (order_id) where refund_id is null;
create unique index outbox_refund_event on outbox (refund_id) where refund_id is not null;
