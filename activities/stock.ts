import { log } from '@temporalio/activity';
import { selectInventory, updateAvailableIfVersion } from '../db/inventory';
import { LostRace } from '../db/optimistic-retry';
import { BusinessError, BusinessRuleError } from '../domain/errors';
import type { OrderItem } from '../domain/order';
import type { ActivityDeps } from './deps';
import { applyStepOnce, compensateStepOnce, type CompensationOutcome, type StepOutcome } from './step-fence';

/** Sums quantities per SKU and sorts by SKU, so concurrent orders touch rows in one order. */
function quantitiesBySku(items: readonly OrderItem[]): [string, number][] {
  const totals = new Map<string, number>();
  for (const item of items) totals.set(item.sku, (totals.get(item.sku) ?? 0) + item.quantity);
  return [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function createStockActivities({ pool }: ActivityDeps) {
  async function reserveStock({ orderId, items }: { orderId: string; items: OrderItem[] }): Promise<StepOutcome> {
    return applyStepOnce(pool, { orderId, step: 'reserve', what: 'stock reservation' }, async (tx) => {
      const quantities = quantitiesBySku(items);
      for (const [sku, quantity] of quantities) {
        const row = await selectInventory(tx, sku);
        if (!row) throw new BusinessRuleError(BusinessError.UnknownSku, `unknown SKU ${sku}`, { sku });
        if (row.available < quantity) {
          throw new BusinessRuleError(BusinessError.OutOfStock, `${sku}: ${quantity} requested, ${row.available} available`, {
            sku,
            requested: quantity,
            available: row.available,
          });
        }
        if (!(await updateAvailableIfVersion(tx, { sku, version: row.version, newAvailable: row.available - quantity }))) throw new LostRace(sku);
      }
      return { quantities: Object.fromEntries(quantities) };
    });
  }

  /** Idempotent; on an order whose reservation never applied it records a fence and changes nothing else. */
  async function releaseStock({ orderId }: { orderId: string }): Promise<CompensationOutcome> {
    const outcome = await compensateStepOnce(pool, { orderId, step: 'reserve' }, async (tx, detail) => {
      const quantities = (detail.quantities ?? {}) as Record<string, number>;
      for (const [sku, quantity] of Object.entries(quantities).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const row = await selectInventory(tx, sku);
        if (!row) throw new Error(`inventory row ${sku} vanished while order ${orderId} held stock`);
        if (!(await updateAvailableIfVersion(tx, { sku, version: row.version, newAvailable: row.available + quantity }))) throw new LostRace(sku);
      }
    });
    log.info('releaseStock', { orderId, outcome });
    return outcome;
  }

  return { reserveStock, releaseStock };
}
