import type { Queryable } from './pool';

export interface InventoryRow {
  sku: string;
  available: number;
  provisioned: number;
  version: number;
}

export async function selectInventory(db: Queryable, sku: string): Promise<InventoryRow | undefined> {
  const { rows } = await db.query<InventoryRow>('select sku, available, provisioned, version from inventory where sku = $1', [sku]);
  return rows[0];
}

/** Sets the stock on hand; `provisioned` moves by the same delta so conservation still holds. */
export async function upsertInventoryAvailable(db: Queryable, s: { sku: string; available: number }): Promise<InventoryRow> {
  const { rows } = await db.query<InventoryRow>(
    `insert into inventory (sku, available, provisioned) values ($1, $2, $2)
     on conflict (sku) do update
       set provisioned = inventory.provisioned + ($2 - inventory.available),
           available = $2, version = inventory.version + 1, updated_at = now()
     returning sku, available, provisioned, version`,
    [s.sku, s.available],
  );
  return rows[0]!;
}

export async function updateAvailableIfVersion(db: Queryable, u: { sku: string; version: number; newAvailable: number }): Promise<boolean> {
  const { rowCount } = await db.query(`update inventory set available = $3, version = version + 1, updated_at = now() where sku = $1 and version = $2`, [
    u.sku,
    u.version,
    u.newAvailable,
  ]);
  return rowCount === 1;
}
