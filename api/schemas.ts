import { z } from 'zod';
import { cancelBodySchema, cents, idSchema, messageIdSchema } from '../contract/order';
import { Limits } from '../domain/limits';

/** HTTP-only shapes; the order itself is in contract/order. */
export const accountIdParams = z.strictObject({ accountId: idSchema });
export const orderIdParams = z.strictObject({ orderId: messageIdSchema });
export const skuParams = z.strictObject({ sku: idSchema });

export const createAccountSchema = z.strictObject({ accountId: idSchema, openingBalanceCents: cents(Limits.maxBalanceCents) });
export const creditSchema = z.strictObject({ amountCents: cents(Limits.maxBalanceCents).positive() });
export const inventorySchema = z.strictObject({ available: z.number().int().nonnegative().max(Limits.maxStockLevel) });
/** The body is optional: no body, an empty one, or JSON null all mean "no reason". */
export const cancelSchema = cancelBodySchema.nullish();
export const confirmSchema = z.strictObject({}).nullish();

export const idempotencyHeaders = z.object({ 'idempotency-key': messageIdSchema.optional() });
