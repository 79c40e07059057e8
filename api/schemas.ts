import { z } from 'zod';

export const messageIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');

const idSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');
const cents = z.number().int('must be whole cents').nonnegative().max(Number.MAX_SAFE_INTEGER);

export const orderItemSchema = z.strictObject({
  sku: idSchema,
  quantity: z.number().int().positive().max(1_000_000),
  unitPriceCents: cents.max(1_000_000_000),
});

/** '90 seconds', '10 minutes', '2 hours'; at most 7 days. */
export const durationSchema = z
  .string()
  .regex(/^[1-9]\d{0,6} (seconds?|minutes?|hours?)$/, "a duration like '90 seconds', '10 minutes' or '2 hours'")
  .refine((s) => !(durationMs(s) > 7 * 24 * 3600 * 1000), 'at most 7 days');

export function durationMs(s: string): number {
  const match = /^(\d+) (second|minute|hour)s?$/.exec(s);
  if (!match) return Number.NaN;
  const factor = { second: 1_000, minute: 60_000, hour: 3_600_000 }[match[2] as 'second' | 'minute' | 'hour'];
  return Number(match[1]) * factor;
}

/** The order command: the body of POST /orders and the value of a Kafka orders.commands message. */
/** Totals stay far inside exact integer range (2^53 cents). */
export const MAX_ORDER_TOTAL_CENTS = 1_000_000_000_000;

export const orderCommandSchema = z.strictObject({
  messageId: messageIdSchema.optional(),
  customerId: idSchema,
  items: z
    .array(orderItemSchema)
    .min(1)
    .max(100)
    .refine((items) => items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0) <= MAX_ORDER_TOTAL_CENTS, {
      message: `order total exceeds ${MAX_ORDER_TOTAL_CENTS} cents`,
    }),
  confirmation: z.enum(['auto', 'manual']).optional(),
  confirmWithin: durationSchema.optional(),
});

export const kafkaOrderCommandSchema = orderCommandSchema.extend({ messageId: messageIdSchema });

export const accountIdParams = z.strictObject({ accountId: idSchema });
export const orderIdParams = z.strictObject({ orderId: messageIdSchema });
export const skuParams = z.strictObject({ sku: idSchema });

export const createAccountSchema = z.strictObject({ accountId: idSchema, openingBalanceCents: cents });
export const creditSchema = z.strictObject({ amountCents: cents.positive() });
export const inventorySchema = z.strictObject({ available: z.number().int().nonnegative().max(1_000_000_000) });
export const cancelSchema = z.strictObject({ reason: z.string().max(500).optional() }).optional();

export const idempotencyHeaders = z.object({ 'idempotency-key': messageIdSchema.optional() });

