import type { Queryable } from './pool';

/**
 * The invariants of docs/reliability.md as read-only queries, one per statement. Each returns the
 * violating rows (at most `limit`), so a clean database returns nothing and a dirty one says where.
 */

export async function selectBalanceMismatches(db: Queryable, limit: number) {
  const { rows } = await db.query<{ account_id: string; balance_cents: number; expected_cents: number }>(
    `select a.id as account_id, a.balance_cents, a.opening_balance_cents + coalesce(sum(l.amount_cents), 0)::bigint as expected_cents
       from accounts a left join ledger l on l.account_id = a.id
      group by a.id
     having a.balance_cents <> a.opening_balance_cents + coalesce(sum(l.amount_cents), 0)
      order by a.id limit $1`,
    [limit],
  );
  return rows;
}

export async function selectDuplicateLedgerKeys(db: Queryable, limit: number) {
  const { rows } = await db.query<{ idempotency_key: string; times: number }>(
    `select idempotency_key, count(*)::int as times from ledger group by idempotency_key having count(*) > 1 order by 1 limit $1`,
    [limit],
  );
  return rows;
}

export async function selectCancelledWithBalanceEffect(db: Queryable, limit: number) {
  const { rows } = await db.query<{ order_id: string; net_cents: number }>(
    `select o.id as order_id, sum(l.amount_cents)::bigint as net_cents
       from orders o join ledger l on l.order_id = o.id
      where o.status = 'CANCELLED' group by o.id having sum(l.amount_cents) <> 0
      order by o.id limit $1`,
    [limit],
  );
  return rows;
}

export async function selectCancelledHoldingStock(db: Queryable, limit: number) {
  const { rows } = await db.query<{ order_id: string }>(
    `select o.id as order_id from orders o join saga_steps s on s.order_id = o.id and s.step = 'reserve'
      where o.status = 'CANCELLED' and s.state = 'applied' order by o.id limit $1`,
    [limit],
  );
  return rows;
}

/** provisioned = available + held by live reservations + sold; sold is what confirmed orders reserved, less what full refunds restocked. */
export async function selectStockMismatches(db: Queryable, limit: number) {
  const { rows } = await db.query<{ sku: string; provisioned: number; accounted: number }>(
    `select i.sku, i.provisioned, i.available + coalesce(r.held, 0)::bigint as accounted
       from inventory i
       left join (select q.key as sku, sum(case when s.step = 'restock' then -q.value::bigint else q.value::bigint end) as held
                    from saga_steps s, jsonb_each_text(s.detail -> 'quantities') q
                   where s.step in ('reserve', 'restock') and s.state = 'applied' group by q.key) r on r.sku = i.sku
      where i.provisioned <> i.available + coalesce(r.held, 0)
      order by i.sku limit $1`,
    [limit],
  );
  return rows;
}

export async function selectEventCountMismatches(db: Queryable, limit: number) {
  const { rows } = await db.query<{ order_id: string; status: string; events: number }>(
    `select o.id as order_id, o.status, count(e.event_id)::int as events
       from orders o left join outbox e on e.order_id = o.id
      group by o.id, o.status
     having count(e.event_id) <> case when o.status = 'PENDING' then 0 else 1 end
      order by o.id limit $1`,
    [limit],
  );
  return rows;
}

/** Accepted messages (a run ID recorded) whose saga has not written its order: fine while the saga runs. */
export async function selectAcceptedWithoutOrder(db: Queryable, limit: number) {
  const { rows } = await db.query<{ message_id: string; workflow_id: string }>(
    `select p.message_id, p.workflow_id from processed_messages p
      where p.run_id is not null and not exists (select 1 from orders o where o.id = p.message_id)
      order by p.first_seen_at limit $1`,
    [limit],
  );
  return rows;
}

export async function selectPendingOrders(db: Queryable, limit: number) {
  const { rows } = await db.query<{ order_id: string; updated_at: Date }>(
    `select id as order_id, updated_at from orders where status = 'PENDING' order by updated_at limit $1`,
    [limit],
  );
  return rows;
}

/** Claims whose start never resolved: the caller got a 503 and may still retry; old ones need a look. */
export async function selectUnresolvedClaims(db: Queryable, olderThanSeconds: number, limit: number) {
  const { rows } = await db.query<{ message_id: string; workflow_id: string; first_seen_at: Date }>(
    `select message_id, workflow_id, first_seen_at from processed_messages
      where run_id is null and first_seen_at < now() - make_interval(secs => $1)
      order by first_seen_at limit $2`,
    [olderThanSeconds, limit],
  );
  return rows;
}

/** An order's refunded_cents is the sum of the refunds whose credit stands (applied, not reversed). */
export async function selectRefundedCentsMismatches(db: Queryable, limit: number) {
  const { rows } = await db.query<{ order_id: string; refunded_cents: number; credited_cents: number }>(
    `select o.id as order_id, o.refunded_cents, coalesce(sum(r.amount_cents), 0)::bigint as credited_cents
       from orders o
       left join refunds r on r.order_id = o.id
        and exists (select 1 from saga_steps s where s.order_id = 'refund/' || r.id and s.step = 'credit' and s.state = 'applied')
      group by o.id
     having o.refunded_cents <> coalesce(sum(r.amount_cents), 0)
      order by o.id limit $1`,
    [limit],
  );
  return rows;
}

/** The cashback refunds took back is what the ledger says they took, and never more than the order paid out. */
export async function selectRewardTakeBackMismatches(db: Queryable, limit: number) {
  const { rows } = await db.query<{ order_id: string; reward_taken_back_cents: number; ledger_taken_back_cents: number; reward_cents: number }>(
    `select * from (
       select o.id as order_id, o.reward_taken_back_cents,
              coalesce(-sum(l.amount_cents) filter (where l.idempotency_key <> 'order:' || o.id || ':reward'), 0)::bigint as ledger_taken_back_cents,
              coalesce(sum(l.amount_cents) filter (where l.idempotency_key = 'order:' || o.id || ':reward'), 0)::bigint as reward_cents
         from orders o left join ledger l on l.order_id = o.id and l.kind = 'reward'
        group by o.id) x
      where reward_taken_back_cents <> ledger_taken_back_cents or reward_taken_back_cents > reward_cents
      order by order_id limit $1`,
    [limit],
  );
  return rows;
}

/** An order's goods came back at most once, by the refund orders.restocked_by names. */
export async function selectRestockMismatches(db: Queryable, limit: number) {
  const { rows } = await db.query<{ order_id: string; restocked_by: string | null; restocked_by_steps: string[] }>(
    `select * from (
       select o.id as order_id, o.restocked_by,
              coalesce(array_agg(r.id order by r.id) filter (where s.state = 'applied' and s.detail -> 'quantities' <> '{}'::jsonb), '{}') as restocked_by_steps
         from orders o
         join refunds r on r.order_id = o.id
         left join saga_steps s on s.order_id = 'refund/' || r.id and s.step = 'restock'
        group by o.id, o.restocked_by) x
      where restocked_by_steps <> case when restocked_by is null then '{}'::text[] else array[restocked_by] end
      order by order_id limit $1`,
    [limit],
  );
  return rows;
}

/**
 * A REFUNDED refund has its credit and one event; a REJECTED one has one event and no net money; a PENDING
 * one no event yet.
 */
export async function selectRefundEffectMismatches(db: Queryable, limit: number) {
  const { rows } = await db.query<{ refund_id: string; status: string; credited: boolean; credits: number; net_cents: number; events: number }>(
    `select * from (
       select r.id as refund_id, r.status,
              exists (select 1 from saga_steps s where s.order_id = 'refund/' || r.id and s.step = 'credit' and s.state = 'applied') as credited,
              (select count(*) from ledger l where l.idempotency_key = 'refund:' || r.id || ':credit')::int as credits,
              (select coalesce(sum(l.amount_cents), 0) from ledger l
                where l.idempotency_key in ('refund:' || r.id || ':credit', 'refund:' || r.id || ':reward',
                                            'refund:' || r.id || ':credit-reversed', 'refund:' || r.id || ':reward-returned'))::bigint as net_cents,
              (select count(*) from outbox e where e.refund_id = r.id)::int as events
         from refunds r) x
      where case status
              when 'REFUNDED' then not (credited and credits = 1 and events = 1)
              when 'REJECTED' then not (not credited and net_cents = 0 and events = 1)
              else events <> 0
            end
      order by refund_id limit $1`,
    [limit],
  );
  return rows;
}

/** Refunds stored but never started (a 503 answered, the client did not retry) or still running after `olderThanSeconds`. */
export async function selectPendingRefunds(db: Queryable, olderThanSeconds: number, limit: number) {
  const { rows } = await db.query<{ refund_id: string; order_id: string; started: boolean; created_at: Date }>(
    `select id as refund_id, order_id, run_id is not null as started, created_at from refunds
      where status = 'PENDING' and created_at < now() - make_interval(secs => $1)
      order by created_at limit $2`,
    [olderThanSeconds, limit],
  );
  return rows;
}
