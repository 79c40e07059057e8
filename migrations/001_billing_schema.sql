-- Accounts hold integer cents; every change bumps version (optimistic lock) and writes one ledger row.
create table accounts (
  id                    text primary key,
  opening_balance_cents bigint not null check (opening_balance_cents >= 0),
  balance_cents         bigint not null check (balance_cents >= 0),
  version               integer not null default 0,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);

create table ledger (
  id                  bigserial primary key,
  idempotency_key     text not null unique,
  account_id          text not null references accounts (id),
  order_id            text,
  kind                text not null check (kind in ('debit', 'refund', 'reward', 'credit')),
  amount_cents        bigint not null check (amount_cents <> 0),
  balance_after_cents bigint not null,
  account_version     integer not null,
  created_at          timestamptz not null default now()
);
create index ledger_account_idx on ledger (account_id, id desc);
create index ledger_order_idx on ledger (order_id);

-- provisioned = available + held by live orders + sold to confirmed ones (the stock conservation check).
create table inventory (
  sku         text primary key,
  available   integer not null check (available >= 0),
  provisioned integer not null check (provisioned >= 0),
  version     integer not null default 0,
  updated_at  timestamptz not null default now()
);

create table orders (
  id                    text primary key,
  customer_id           text not null,
  items                 jsonb not null,
  total_cents           bigint not null check (total_cents >= 0),
  status                text not null check (status in ('PENDING', 'CONFIRMED', 'CANCELLED')),
  confirmation          text not null check (confirmation in ('auto', 'manual')),
  confirmation_decision text check (confirmation_decision in ('confirm', 'cancel')),
  cancel_reason         text,
  needs_review          boolean not null default false,
  review_reason         text,
  version               integer not null default 0,
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);
create index orders_customer_idx on orders (customer_id);

-- One row per order and saga step: the truth that check-backs read and that fences late actions.
create table saga_steps (
  order_id   text not null,
  step       text not null,
  state      text not null check (state in ('applied', 'compensated', 'fenced')),
  detail     jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (order_id, step)
);

create table outbox (
  event_id     uuid primary key,
  order_id     text not null unique,
  topic        text not null,
  key          text not null,
  event_type   text not null,
  payload      jsonb not null,
  created_at   timestamptz not null default now(),
  published_at timestamptz
);
create index outbox_unpublished_idx on outbox (created_at) where published_at is null;

-- Outlives Temporal's retention window, so a very late duplicate still collapses.
create table processed_messages (
  message_id    text primary key,
  workflow_id   text not null,
  run_id        text,
  source        text not null check (source in ('rest', 'kafka')),
  fingerprint   text not null,
  first_seen_at timestamptz not null default now()
);
