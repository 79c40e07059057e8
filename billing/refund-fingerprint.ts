import { createHash } from 'node:crypto';

/** What a refund asks for: the same refund ID with another order, amount or reason is another refund. */
export function refundFingerprint({ orderId, amountCents, reason }: { orderId: string; amountCents: number; reason?: string }): string {
  return (
    'r1:' +
    createHash('sha256')
      .update(JSON.stringify([orderId, amountCents, reason ?? null]))
      .digest('hex')
  );
}
