import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { Limits } from '../domain/limits';
import { orderTotalCents } from '../domain/order';
import { textProblem } from '../domain/text';

/**
 * The order contract: what a producer may send (REST body, Kafka value) and what the saga receives.
 * Node-only (zod); workflow code imports only its types.
 */

const idPattern = /^[A-Za-z0-9._:-]+$/;
export const idSchema = z
  .string()
  .min(1)
  .max(Limits.maxIdLength)
  .regex(idPattern, 'letters, digits and . _ : - only')
  // '.' and '..' are path segments that clients rewrite, so such an order could never be addressed.
  .refine((id) => !/^\.+$/.test(id), 'must not consist of dots only');
export const messageIdSchema = idSchema;

/** Free text: bounded, no control characters, well-formed UTF-16 (PostgreSQL must be able to store it). */
export const freeText = (max: number) =>
  z
    .string()
    .max(max)
    .superRefine((s, ctx) => {
      const problem = textProblem(s);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

export const cents = (max: number) => z.number().int('must be whole cents').nonnegative().max(max);

export const orderItemSchema = z.strictObject({
  sku: idSchema,
  quantity: z.number().int().positive().max(Limits.maxQuantity),
  unitPriceCents: cents(Limits.maxUnitPriceCents),
});

const MAX_WINDOW_MS = 7 * 24 * 3600 * 1000;
const durationHint = "a duration like '90 seconds', '10 minutes' or '2 hours'";

/** '90 seconds', '10 minutes', '2 hours'; at most 7 days. Its type is one the Temporal SDK takes as a Duration. */
export const durationSchema = z
  .templateLiteral([z.number(), ' ', z.enum(['second', 'seconds', 'minute', 'minutes', 'hour', 'hours'])], { error: durationHint })
  .refine((s) => /^[1-9]\d{0,6} /.test(s), { error: durationHint, abort: true })
  .refine((s) => msToNumber(s) <= MAX_WINDOW_MS, 'at most 7 days');

const itemsSchema = z
  .array(orderItemSchema)
  .min(1)
  .max(Limits.maxItems)
  .refine(withinTotalLimit, { message: `order total exceeds ${Limits.maxOrderTotalCents} cents` });

/** The same sum the saga computes; past 2^53 it is refused as over the limit, not rounded. */
function withinTotalLimit(items: { quantity: number; unitPriceCents: number; sku: string }[]): boolean {
  try {
    return orderTotalCents(items) <= Limits.maxOrderTotalCents;
  } catch {
    return false;
  }
}

const orderFields = {
  customerId: idSchema,
  items: itemsSchema,
  confirmation: z.enum(['auto', 'manual']).optional(),
  confirmWithin: durationSchema.optional(),
};

/** The body of POST /orders: the message ID may come in the Idempotency-Key header instead. */
export const orderCommandSchema = z.strictObject({ messageId: messageIdSchema.optional(), ...orderFields });

/** A Kafka orders.commands value, and what both producers hand to the intake: the message ID is required. */
export const orderMessageSchema = z.strictObject({ messageId: messageIdSchema, ...orderFields });

export type OrderCommand = z.infer<typeof orderCommandSchema>;
export type OrderMessage = z.infer<typeof orderMessageSchema>;

/** Knobs that producers never send: tests and operators set them when starting a saga by hand. */
export interface SagaTuning {
  /** Before S10: how often a waiting manual order re-read its stored decision. Default 1 minute. */
  checkBackEvery?: Duration;
  /** In-doubt steps: how many status checks before giving up. Default 15. */
  maxCheckBacks?: number;
  /** In-doubt steps: the time between two status checks. Default 30 seconds. */
  checkBackInterval?: Duration;
}

/** The saga's input: the order message as validated, plus tuning. confirmWithin defaults to 10 minutes. */
export type OrderSagaInput = OrderMessage & SagaTuning;

/** Exactly the fields of the contract, whatever else the caller's object holds. */
export function toSagaInput({ messageId, customerId, items, confirmation, confirmWithin }: OrderMessage): OrderSagaInput {
  return { messageId, customerId, items: items.map(({ sku, quantity, unitPriceCents }) => ({ sku, quantity, unitPriceCents })), confirmation, confirmWithin };
}

/** The body of POST /orders/:id/cancel; the saga's decide validator applies the same reason rules without zod. */
export const cancelBodySchema = z.strictObject({ reason: freeText(Limits.maxReasonLength).optional() });
