import { selectInventory, updateAvailableIfVersion } from '../db/inventory';
import { withTransaction } from '../db/pool';
import { insertStep, selectStepForUpdate, updateStepState } from '../db/steps';
import { BusinessError } from '../domain/errors';
import type { OrderItem } from '../domain/order';
import type { ActivityDeps } from './deps';
import { businessFailure } from './failures';
import { LostRace, retryOnConflict } from './optimistic-retry';

export type StepOutcome = 'applied' | 'already-applied';
export type CompensationOutcome = 'compensated' | 'fenced' | 'already-compensated' | 'already-fenced';

/** Sums quantities per SKU and sorts by SKU, so concurrent orders touch rows in one order. */
function quantitiesBySku(items: readonly OrderItem[]): [string, number][] {
  const totals = new Map<string, number>();
  for (const item of items) totals.set(item.sku, (totals.get(item.sku) ?? 0) + item.quantity);
  return [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function createStockActivities({ pool, logger }: ActivityDeps) {
  async function reserveStock({ orderId, items }: { orderId: string; items: OrderItem[] }): Promise<StepOutcome> {
    return retryOnConflict(() =>
      withTransaction(pool, async (tx) => {
        const step = await selectStepForUpdate(tx, orderId, 'reserve');
        if (step?.state === 'applied') return 'already-applied';
        if (step) throw businessFailure(BusinessError.StepFenced, `stock reservation for ${orderId} was already rolled back`);
        const quantities = quantitiesBySku(items);
        for (const [sku, quantity] of quantities) {
          const row = await selectInventory(tx, sku);
          if (!row) throw businessFailure(BusinessError.UnknownSku, `unknown SKU ${sku}`, { sku });
          if (row.available < quantity) {
            throw businessFailure(BusinessError.OutOfStock, `${sku}: ${quantity} requested, ${row.available} available`, {
              sku,
              requested: quantity,
              available: row.available,
            });
          }
          const updated = await updateAvailableIfVersion(tx, { sku, version: row.version, newAvailable: row.available - quantity });
          if (!updated) throw new LostRace(sku);
        }
        await insertStep(tx, { orderId, step: 'reserve', state: 'applied', detail: { quantities: Object.fromEntries(quantities) } });
        return 'applied';
      }),
    );
  }

  /** Idempotent; on an order whose reservation never applied it records a fence and changes nothing else. */
  async function releaseStock({ orderId }: { orderId: string }): Promise<CompensationOutcome> {
    const outcome = await retryOnConflict(() =>
      withTransaction(pool, async (tx): Promise<CompensationOutcome> => {
        const step = await selectStepForUpdate(tx, orderId, 'reserve');
        if (!step) {
          await insertStep(tx, { orderId, step: 'reserve', state: 'fenced' });
          return 'fenced';
        }
        if (step.state !== 'applied') return step.state === 'fenced' ? 'already-fenced' : 'already-compensated';
        const quantities = (step.detail.quantities ?? {}) as Record<string, number>;
        for (const [sku, quantity] of Object.entries(quantities).sort(([a], [b]) => (a < b ? -1 : 1))) {
          const row = await selectInventory(tx, sku);
          if (!row) throw new Error(`inventory row ${sku} vanished while order ${orderId} held stock`);
          if (!(await updateAvailableIfVersion(tx, { sku, version: row.version, newAvailable: row.available + quantity }))) {
            throw new LostRace(sku);
          }
        }
        await updateStepState(tx, { orderId, step: 'reserve', state: 'compensated' });
        return 'compensated';
      }),
    );
    logger.info({ orderId, outcome }, 'releaseStock');
    return outcome;
  }

  return { reserveStock, releaseStock };
}
