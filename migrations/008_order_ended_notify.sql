-- An order that reaches its end state says so on channel order_ended (payload: its ID) when the transaction
-- commits, so a request held with `Prefer: wait` answers at the commit instead of polling for it. A trigger,
-- not the activities' SQL: every build's commit and cancel notify alike.
create function notify_order_ended() returns trigger language plpgsql as $$
begin
  perform pg_notify('order_ended', new.id);
  return null;
end
$$;

create trigger orders_ended_on_update after update of status on orders
  for each row when (old.status is distinct from new.status and new.status <> 'PENDING')
  execute function notify_order_ended();

create trigger orders_ended_on_insert after insert on orders
  for each row when (new.status <> 'PENDING')
  execute function notify_order_ended();
