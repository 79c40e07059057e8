/**
 * Bounds on money, stock and text. Every sum or product the service computes from values inside them
 * stays an exact integer in a JS number (below 2^53); migrations/002 enforces the same bounds as CHECKs.
 */
export const Limits = {
  /** What a top-up or an opening balance may bring an account to: 10^15 cents. */
  maxBalanceCents: 1_000_000_000_000_000,
  /**
   * What a balance may reach at all. Refunds and cashback are never refused (a compensation must not fail),
   * and they can only return what was debited since (at most maxBalanceCents) plus 1% of it: 4 * 10^15
   * leaves room for that and stays exact.
   */
  balanceCeilingCents: 4_000_000_000_000_000,
  maxOrderTotalCents: 1_000_000_000_000,
  maxUnitPriceCents: 1_000_000_000,
  maxQuantity: 1_000_000,
  maxItems: 100,
  /** Stock on hand set by PUT /inventory. */
  maxStockLevel: 1_000_000_000,
  /** provisioned grows with every unit ever sold; the column refuses to pass the exact range. */
  maxProvisioned: Number.MAX_SAFE_INTEGER,
  maxIdLength: 128,
  maxReasonLength: 500,
} as const;
