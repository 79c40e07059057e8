-- Refunds of confirmed orders. The refund ID is the idempotency key; the row is written before its saga
-- starts and says what was asked for (fingerprint), so a copy with other content is refused. run_id is set
-- once Temporal has acknowledged the start: a row without one past its lease never counts against the cap.
create table refunds (
  id            text primary key check (char_length(id) between 1 and 128),
  order_id      text not null references orders (id),
  amount_cents  bigint not null check (amount_cents > 0 and amount_cents <= 1000000000000),
  reason        text check (char_length(reason) <= 500),
  fingerprint   text not null,
  status        text not null default 'PENDING' check (status in ('PENDING', 'REFUNDED', 'REJECTED')),
  reject_reason text,
  run_id        text,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
create index refunds_order_idx on refunds (order_id, created_at);

-- What the order's refunds have taken, kept by the refund saga's credit step under the order's lock: the
-- database refuses a sum past the total, and the goods come back once (restocked_by names the refund).
alter table orders
  add column refunded_cents bigint not null default 0,
  add column reward_taken_back_cents bigint not null default 0,
  add column restocked_by text,
  add constraint orders_refunded_within_total check (refunded_cents between 0 and total_cents),
  add constraint orders_reward_taken_back_bounded check (reward_taken_back_cents >= 0);

-- A refund's event is keyed 'refund/<refund ID>' in order_id, which no order ID can be ('/' is refused), so
-- the one-event-per-order constraint that earlier builds rely on (on conflict (order_id)) stays as it is.
alter table outbox add column refund_id text references refunds (id);
