/**
 * Bounds on money, stock and text. Every sum or product the service computes from values inside them
 * stays an exact integer in a JS number (below 2^53); migrations/002 enforces the same bounds as CHECKs.
 */
export const Limits = {
  /** Any account balance, opening balance or single top-up: 10^15 cents. */
  maxBalanceCents: 1_000_000_000_000_000,
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
