import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { selectInventory, upsertInventoryAvailable } from '../../db/inventory';
import { HttpError } from '../http-errors';
import { inventorySchema, skuParams } from '../schemas';

export function registerInventoryRoutes(app: FastifyInstance): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.put('/inventory/:sku', { schema: { params: skuParams, body: inventorySchema, tags: ['inventory'] } }, async (request) => {
    const row = await upsertInventoryAvailable(app.db, { sku: request.params.sku, available: request.body.available });
    return { sku: row.sku, available: row.available, version: row.version };
  });

  routes.get('/inventory/:sku', { schema: { params: skuParams, tags: ['inventory'] } }, async (request) => {
    const row = await selectInventory(app.db, request.params.sku);
    if (!row) throw new HttpError(404, 'SkuNotFound', `no SKU ${request.params.sku}`);
    return { sku: row.sku, available: row.available, version: row.version };
  });
}
