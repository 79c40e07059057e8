import { expect } from 'vitest';
import type { Queryable } from '../../db/pool';

/** The invariants at the end of shared/RELIABILITY.md, checked against the database. */
export async function assertInvariants(db: Queryable, { allowPending = false } = {}): Promise<void> {
  if (!allowPending) {
    const { rows } = await db.query<{ id: string }>(`select id from orders where status = 'PENDING'`);
    expect(rows, 'orders stranded in PENDING').toEqual([]);
  }

  const { rows: balances } = await db.query<{ id: string; balance_cents: number; expected: number }>(`
    select a.id, a.balance_cents, a.opening_balance_cents + coalesce(sum(l.amount_cents), 0)::bigint as expected
      from accounts a left join ledger l on l.account_id = a.id
     group by a.id`);
  for (const row of balances) expect(row.balance_cents, `balance of ${row.id}`).toBe(row.expected);

  const { rows: duplicateKeys } = await db.query(
    'select idempotency_key from ledger group by idempotency_key having count(*) > 1',
  );
  expect(duplicateKeys, 'ledger keys applied twice').toEqual([]);

  const { rows: cancelledWithEffect } = await db.query<{ id: string; net: number }>(`
    select o.id, coalesce(sum(l.amount_cents), 0)::bigint as net
      from orders o left join ledger l on l.order_id = o.id
     where o.status = 'CANCELLED' group by o.id having coalesce(sum(l.amount_cents), 0) <> 0`);
  expect(cancelledWithEffect, 'cancelled orders with a net balance effect').toEqual([]);

  const { rows: cancelledHoldingStock } = await db.query(`
    select o.id from orders o join saga_steps s on s.order_id = o.id and s.step = 'reserve'
     where o.status = 'CANCELLED' and s.state = 'applied'`);
  expect(cancelledHoldingStock, 'cancelled orders still holding stock').toEqual([]);

  const { rows: stock } = await db.query<{ sku: string; provisioned: number; accounted: number }>(`
    select i.sku, i.provisioned,
           i.available + coalesce((
             select sum((s.detail -> 'quantities' ->> i.sku)::int) from saga_steps s
              where s.step = 'reserve' and s.state = 'applied' and s.detail -> 'quantities' ? i.sku), 0)::int as accounted
      from inventory i`);
  for (const row of stock) expect(row.accounted, `stock conservation for ${row.sku}`).toBe(row.provisioned);

  const { rows: events } = await db.query<{ id: string; status: string; events: number }>(`
    select o.id, o.status, count(e.event_id)::int as events
      from orders o left join outbox e on e.order_id = o.id group by o.id, o.status`);
  for (const row of events) {
    expect(row.events, `outgoing events of ${row.status} order ${row.id}`).toBe(row.status === 'PENDING' ? 0 : 1);
  }
}
