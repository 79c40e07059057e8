-- An operator's resolution of an order the saga flagged for review: who, when, what they noted, and the
-- reason it was flagged. One per order, never edited or deleted; recording it clears orders.needs_review.
create table order_resolutions (
  order_id      text primary key references orders (id),
  review_reason text not null,
  resolved_by   text not null check (char_length(resolved_by) between 1 and 128),
  note          text not null check (char_length(note) between 1 and 500),
  resolved_at   timestamptz not null default now()
);

create function order_resolutions_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'order resolutions are never edited or deleted (order %)', old.order_id using errcode = 'P0001';
end $$;

create trigger order_resolutions_immutable before update or delete on order_resolutions
  for each row execute function order_resolutions_immutable();

create index orders_needing_review on orders (updated_at) where needs_review;
