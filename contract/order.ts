import type { Duration } from '@temporalio/common';
import { z } from 'zod';
import { Limits } from '../domain/limits';
import { orderTotalCents } from '../domain/order';
import { upToPattern } from '../domain/number-pattern';
import { codePointLength, FREE_TEXT_PATTERN, textProblem } from '../domain/text';

/**
 * The order contract: what a producer may send (REST body, Kafka value) and what the saga receives.
 * Node-only (zod); workflow code imports only its types.
 */

/**
 * Letters, digits and . _ : - with at least one that is not a dot: '.' and '..' are path segments that
 * clients rewrite, so such an order could never be addressed. ASCII only, so it reads the same in any regex engine.
 */
const idPattern = /^[A-Za-z0-9._:-]*[A-Za-z0-9_:-][A-Za-z0-9._:-]*$/;
export const idSchema = z.string().min(1).max(Limits.maxIdLength).regex(idPattern, 'letters, digits and . _ : - only, not dots only');
export const messageIdSchema = idSchema;

/**
 * Free text: at most `max` code points (as JSON Schema and PostgreSQL's char_length count), none of the characters
 * domain/text refuses. The pattern is what the API publishes; the error says which rule the text broke.
 */
export const freeText = (max: number) =>
  z
    .string()
    .regex(new RegExp(FREE_TEXT_PATTERN, 'u'), { error: (issue) => textProblem(String(issue.input)) ?? 'refused characters' })
    // Lone surrogates are outside any pattern (see FREE_TEXT_PATTERN): checked here, as PostgreSQL cannot store them.
    .refine((s) => s.isWellFormed(), 'must be well-formed Unicode (no lone surrogates)')
    .refine((s) => codePointLength(s) <= max, `at most ${max} characters`)
    .meta({
      maxLength: max,
      description: `free text: at most ${max} characters, well-formed Unicode, no control characters, bidirectional controls or noncharacters`,
    });

export const cents = (max: number) => z.number().int('must be whole cents').nonnegative().max(max);

export const orderItemSchema = z.strictObject({
  sku: idSchema,
  quantity: z.number().int().positive().max(Limits.maxQuantity),
  unitPriceCents: cents(Limits.maxUnitPriceCents),
});

type DurationUnit = 'second' | 'seconds' | 'minute' | 'minutes' | 'hour' | 'hours';
/** A duration the Temporal SDK takes as is. */
export type DurationText = `${number} ${DurationUnit}`;

/** At most 7 days in each unit, as a pattern: the bound is then part of the published contract, not hidden in code. */
const DURATION_PATTERN = new RegExp(`^(?:${upToPattern(7 * 24 * 3600)} seconds?|${upToPattern(7 * 24 * 60)} minutes?|${upToPattern(7 * 24)} hours?)$`);

/** '90 seconds', '10 minutes', '2 hours': a whole number from 1, at most 7 days. */
export const durationSchema = z
  .string()
  .regex(DURATION_PATTERN, "a duration like '90 seconds', '10 minutes' or '2 hours': a whole number from 1, at most 7 days")
  .meta({ examples: ['10 minutes', '2 hours'] }) as unknown as z.ZodType<DurationText, string>;

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
  /** Read only by open histories of builds that polled for a manual order's decision: how often it re-read its stored decision. Default 1 minute. */
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
