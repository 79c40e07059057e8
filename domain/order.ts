/** Plain types shared by workflows, activities and producers (no runtime dependencies). */
export interface OrderItem {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

export type ConfirmationMode = 'auto' | 'manual';
export type OrderStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED';
export type SagaStep = 'reserve' | 'debit';
export type StepState = 'applied' | 'compensated' | 'fenced';
export type ConfirmationDecision = 'confirm' | 'cancel';

export const workflowIdFor = (messageId: string): string => `order-${messageId}`;

export function orderTotalCents(items: readonly OrderItem[]): number {
  const total = items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);
  if (!Number.isSafeInteger(total)) throw new RangeError('order total exceeds the safe integer range');
  return total;
}

/** Cashback in whole cents, rounded down; split so no intermediate product leaves the exact range. */
export const rewardCents = (totalCents: number, basisPoints: number): number =>
  Math.floor(totalCents / 10_000) * basisPoints + Math.floor(((totalCents % 10_000) * basisPoints) / 10_000);
