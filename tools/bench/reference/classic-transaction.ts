/**
 * Reference (b), the SQL: the classic one-transaction consumer from the source articles. Per message, ONE
 * PostgreSQL transaction claims the message ID in processed_messages (the dedupe row) and applies the same
 * statements the saga spreads over its activities: the versioned inventory UPDATE per SKU, the versioned
 * balance UPDATE + ledger debit, the order row, the reward (versioned UPDATE + ledger) and the outbox row.
 * A lost optimistic-lock race re-runs the whole transaction (the saga's own retryOnConflict).
 */
import { randomUUID } from 'node:crypto';
import { applyBalanceChange, ledgerKeys } from '../../../billing/balance';
import { LostRace, retryOnConflict } from '../../../db/optimistic-retry';
import { Topics } from '../../../contract/topics';
import { selectInventory, updateAvailableIfVersion } from '../../../db/inventory';
import { insertOutboxEvent } from '../../../db/outbox';
import { withTransaction, type Pool } from '../../../db/pool';
import { orderTotalCents, rewardCents, type OrderItem } from '../../../domain/order';
import { fingerprint } from '../../../intake/fingerprint';

export interface ClassicOrder {
  messageId: string;
  customerId: string;
  items: OrderItem[];
}

export class ClassicRefused extends Error {
  override name = 'ClassicRefused';
}

export function applyClassicOrder(pool: Pool, order: ClassicOrder, rewardBasisPoints = 100): Promise<'applied' | 'duplicate'> {
  return retryOnConflict(() =>
    withTransaction(pool, async (tx) => {
      const claim = await tx.query(
        `insert into processed_messages (message_id, workflow_id, source, fingerprint) values ($1, $2, 'kafka', $3)
         on conflict (message_id) do nothing`,
        [order.messageId, `classic-${order.messageId}`, fingerprint(order)],
      );
      if (claim.rowCount === 0) return 'duplicate';
      const bySku = new Map<string, number>();
      for (const item of order.items) bySku.set(item.sku, (bySku.get(item.sku) ?? 0) + item.quantity);
      for (const [sku, quantity] of [...bySku].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const row = await selectInventory(tx, sku);
        if (!row || row.available < quantity) throw new ClassicRefused(`${sku}: not enough stock`);
        if (!(await updateAvailableIfVersion(tx, { sku, version: row.version, newAvailable: row.available - quantity }))) throw new LostRace(sku);
      }
      const totalCents = orderTotalCents(order.items);
      const orderId = order.messageId;
      await applyBalanceChange(tx, {
        accountId: order.customerId,
        orderId,
        kind: 'debit',
        amountCents: -totalCents,
        idempotencyKey: ledgerKeys.debit(orderId),
      });
      await tx.query(
        `insert into orders (id, customer_id, items, total_cents, status, confirmation, confirmation_decision)
         values ($1, $2, $3, $4, 'CONFIRMED', 'auto', 'confirm')`,
        [orderId, order.customerId, JSON.stringify(order.items), totalCents],
      );
      const reward = rewardCents(totalCents, rewardBasisPoints);
      if (reward > 0) {
        await applyBalanceChange(tx, { accountId: order.customerId, orderId, kind: 'reward', amountCents: reward, idempotencyKey: ledgerKeys.reward(orderId) });
      }
      const eventId = randomUUID();
      await insertOutboxEvent(tx, {
        eventId,
        orderId,
        topic: Topics.events,
        key: orderId,
        eventType: 'order.confirmed',
        payload: { eventId, type: 'order.confirmed', orderId, customerId: order.customerId, totalCents, rewardCents: reward },
      });
      return 'applied';
    }),
  );
}
