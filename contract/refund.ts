import { z } from 'zod';
import { Limits } from '../domain/limits';
import { cents, freeText, idSchema, messageIdSchema } from './order';

/** The refund contract: what a producer may send (REST body, Kafka value). Node-only (zod). */

const refundFields = {
  amountCents: cents(Limits.maxOrderTotalCents).positive(),
  reason: freeText(Limits.maxReasonLength).optional(),
};

/** The body of POST /orders/:orderId/refunds: the refund ID may come in the Idempotency-Key header instead. */
export const refundCommandSchema = z.strictObject({ refundId: idSchema.optional(), ...refundFields });

/** A refund as both producers hand it to the intake: the order and the refund ID are required. */
export const refundMessageSchema = z.strictObject({ refundId: idSchema, orderId: messageIdSchema, ...refundFields });

/** A refund on orders.commands: tagged, since an order command has no `type`. */
export const refundRecordSchema = refundMessageSchema.extend({ type: z.literal('refund') });

export type RefundCommand = z.infer<typeof refundCommandSchema>;
export type RefundMessage = z.infer<typeof refundMessageSchema>;
