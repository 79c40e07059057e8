/** Plain types and rules of refunds, shared by workflows, activities and producers (no runtime dependencies). */
export type RefundStatus = 'PENDING' | 'REFUNDED' | 'REJECTED';
export type RefundStep = 'credit' | 'restock';

export const refundWorkflowIdFor = (refundId: string): string => `refund-${refundId}`;

/** A refund's rows in saga_steps: no order ID contains '/', so its steps never meet an order's. */
export const refundStepKey = (refundId: string): string => `refund/${refundId}`;

/**
 * The cashback a refund takes back: what the order's refunded share of its total says should be taken back by
 * now, less what earlier refunds took. BigInt: reward × refunded can pass 2^53. Never negative (a released
 * refund may leave more taken back than the share says until the next one), and once the order is refunded in
 * full the refunds have taken back exactly the whole reward.
 */
export function rewardShareCents({
  rewardCents,
  totalCents,
  refundedAfterCents,
  takenBackCents,
}: {
  rewardCents: number;
  totalCents: number;
  refundedAfterCents: number;
  takenBackCents: number;
}): number {
  if (totalCents <= 0 || rewardCents <= 0) return 0;
  const due = Number((BigInt(rewardCents) * BigInt(refundedAfterCents)) / BigInt(totalCents));
  return Math.max(0, due - takenBackCents);
}
