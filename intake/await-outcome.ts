import type { Pool } from '../db/pool';
import { selectOrderOutcome, type OrderOutcomeRow } from '../db/orders';
import type { OrderStatus } from '../domain/order';

export interface OrderOutcome {
  status: Exclude<OrderStatus, 'PENDING'>;
  reason?: string;
  needsReview: boolean;
}

/** Between two checks of a waited-for order: what a lost notification costs, at most. */
const RECHECK_MS = 250;

/**
 * Holds requests until their order ends (`Prefer: wait`). The order's row is the answer: CONFIRMED or
 * CANCELLED once the saga committed it. A notification on `order_ended` (db/listener.ts) wakes a waiter at
 * that commit; a recheck every 250 ms covers a notification lost with the listener's connection.
 */
export class OrderEndings {
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(private readonly pool: Pool) {}

  /** Called with the ID of each order_ended notification. */
  readonly notify = (orderId: string): void => {
    for (const check of this.waiters.get(orderId) ?? []) check();
  };

  /** The order's outcome once it ends, or undefined if it has not within `waitMs` (or the database cannot say). */
  wait(orderId: string, waitMs: number): Promise<OrderOutcome | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      let checking = false;
      const finish = (outcome: OrderOutcome | undefined) => {
        if (settled) return;
        settled = true;
        clearInterval(recheck);
        clearTimeout(timeout);
        const set = this.waiters.get(orderId);
        set?.delete(check);
        if (set?.size === 0) this.waiters.delete(orderId);
        resolve(outcome);
      };
      const check = () => {
        if (settled || checking) return;
        checking = true;
        selectOrderOutcome(this.pool, orderId)
          .then((row) => row && row.status !== 'PENDING' && finish(outcomeOf(row)))
          .catch(() => undefined)
          .finally(() => (checking = false));
      };
      const set = this.waiters.get(orderId) ?? new Set();
      set.add(check);
      this.waiters.set(orderId, set);
      const recheck = setInterval(check, RECHECK_MS);
      const timeout = setTimeout(() => finish(undefined), waitMs);
      // Listening before the first check: an order that ends between the two is still seen.
      check();
    });
  }
}

function outcomeOf(row: OrderOutcomeRow): OrderOutcome {
  return {
    status: row.status as OrderOutcome['status'],
    ...(row.cancel_reason === null ? {} : { reason: row.cancel_reason }),
    needsReview: row.needs_review,
  };
}
