import { createHash } from 'node:crypto';

/** What a refund asks for: the same refund ID with another order, amount or reason is another refund; an empty reason is none. */
export function refundFingerprint({ orderId, amountCents, reason }: { orderId: string; amountCents: number; reason?: string }): string {
  const canonical = JSON.stringify([orderId, amountCents, reason || null]);
  return `r1:${createHash('sha256').update(canonical).digest('hex')}`;
}
