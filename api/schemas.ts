import { z } from 'zod';
import { Limits } from '../domain/limits';
import { textProblem } from '../domain/text';

const idPattern = /^[A-Za-z0-9._:-]+$/;
const idSchema = z
  .string()
  .min(1)
  .max(Limits.maxIdLength)
  .regex(idPattern, 'letters, digits and . _ : - only')
  // '.' and '..' are path segments that clients rewrite, so such an order could never be addressed.
  .refine((id) => !/^\.+$/.test(id), 'must not consist of dots only');
export const messageIdSchema = idSchema;

/** Free text: bounded, no control characters, well-formed UTF-16 (PostgreSQL must be able to store it). */
const freeText = (max: number) =>
  z
    .string()
    .max(max)
    .superRefine((s, ctx) => {
      const problem = textProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

const cents = (max: number) => z.number().int('must be whole cents').nonnegative().max(max);

export const orderItemSchema = z.strictObject({
  sku: idSchema,
  quantity: z.number().int().positive().max(Limits.maxQuantity),
  unitPriceCents: cents(Limits.maxUnitPriceCents),
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

export const MAX_ORDER_TOTAL_CENTS = Limits.maxOrderTotalCents;

/** The order command: the body of POST /orders and the value of a Kafka orders.commands message. */
export const orderCommandSchema = z.strictObject({
  messageId: messageIdSchema.optional(),
  customerId: idSchema,
  items: z
    .array(orderItemSchema)
    .min(1)
    .max(Limits.maxItems)
    // Each product is below 2^50, so this sum of at most 100 of them is exact.
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

export const createAccountSchema = z.strictObject({ accountId: idSchema, openingBalanceCents: cents(Limits.maxBalanceCents) });
export const creditSchema = z.strictObject({ amountCents: cents(Limits.maxBalanceCents).positive() });
export const inventorySchema = z.strictObject({ available: z.number().int().nonnegative().max(Limits.maxStockLevel) });
/** The body is optional: no body, an empty one, or JSON null all mean "no reason". */
export const cancelSchema = z.strictObject({ reason: freeText(Limits.maxReasonLength).optional() }).nullish();
export const confirmSchema = z.strictObject({}).nullish();

export const idempotencyHeaders = z.object({ 'idempotency-key': messageIdSchema.optional() });
