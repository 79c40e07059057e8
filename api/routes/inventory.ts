import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { selectInventory, upsertInventoryAvailable } from '../../db/inventory';
import { HttpError } from '../http-errors';
import { errorResponses, inventoryAnswer, inventorySchema, skuParams } from '../schemas';

const tags = ['inventory'];
const setStock = {
  params: skuParams,
  body: inventorySchema,
  tags,
  summary: 'Set the stock on hand',
  response: { 200: inventoryAnswer, ...errorResponses(400, 401, 413, 415, 422) },
};
const readStock = { params: skuParams, tags, summary: 'Stock on hand', response: { 200: inventoryAnswer, ...errorResponses(400, 401, 404) } };

export function registerInventoryRoutes(app: FastifyInstance): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.put('/inventory/:sku', { schema: setStock }, async (request) => {
    const row = await upsertInventoryAvailable(app.db, { sku: request.params.sku, available: request.body.available });
    return { sku: row.sku, available: row.available, version: row.version };
  });

  routes.get('/inventory/:sku', { schema: readStock }, async (request) => {
    const row = await selectInventory(app.db, request.params.sku);
    if (!row) throw new HttpError(404, 'SkuNotFound', `no SKU ${request.params.sku}`);
    return { sku: row.sku, available: row.available, version: row.version };
  });
}
