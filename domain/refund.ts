/** Plain types and rules of refunds, shared by workflows, activities and producers (no runtime dependencies). */
export type RefundStatus = 'PENDING' | 'REFUNDED' | 'REJECTED';
export type RefundStep = 'claim' | 'credit' | 'restock';

export const refundWorkflowIdFor = (refundId: string): string => `refund-${refundId}`;

/** A refund's rows in saga_steps: its own key, so its steps never meet those of an order with the same ID. */
export const refundStepKey = (refundId: string): string => `refund:${refundId}`;

/**
 * The part of an order's cashback that refunding it from `beforeCents` to `afterCents` of `totalCents` takes
 * back. Each refund takes the difference of two floors, so partial refunds sum to exactly the whole reward
 * once the order is fully refunded. BigInt: reward × refunded can pass 2^53.
 */
export function rewardShareCents({
  rewardCents,
  totalCents,
  beforeCents,
  afterCents,
}: {
  rewardCents: number;
  totalCents: number;
  beforeCents: number;
  afterCents: number;
}): number {
  if (totalCents <= 0 || rewardCents <= 0) return 0;
  const part = (refunded: number) => (BigInt(rewardCents) * BigInt(refunded)) / BigInt(totalCents);
  return Number(part(afterCents) - part(beforeCents));
}
