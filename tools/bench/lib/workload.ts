/**
 * The one order mix every target gets: one line of one SKU at 9.99, customers and SKUs spread over
 * `accounts` and `skus` rows (so the optimistic locks rarely collide; the figure is the pipeline's, not
 * one hot row's). Order `i` of a given kind always has the same ID and body, so a duplicate is exact.
 */
import type { OrderMessage } from '../../../contract/order';

export type OrderKind = 'service' | 'noop' | 'noopLocal' | 'baseline' | 'classic' | 'intake' | 'waiting' | 'fault' | 'eager' | 'waitSeparate';

const prefix: Record<OrderKind, string> = {
  service: 's',
  noop: 'n',
  noopLocal: 'l',
  baseline: 'b',
  classic: 'c',
  intake: 'k',
  waiting: 'w',
  fault: 'f',
  eager: 'e',
  waitSeparate: 'p',
};

export const unitPriceCents = 999;

export class Workload {
  readonly accounts: string[];
  readonly skus: string[];

  constructor(
    readonly run: string,
    accounts: number,
    skus: number,
  ) {
    this.accounts = Array.from({ length: accounts }, (_, i) => `${run}-acct-${i}`);
    this.skus = Array.from({ length: skus }, (_, i) => `${run}-sku-${i}`);
  }

  id(kind: OrderKind, i: number): string {
    return `${this.run}-${prefix[kind]}-${i}`;
  }

  customer(i: number): string {
    return this.accounts[i % this.accounts.length]!;
  }

  request(kind: OrderKind, i: number): OrderMessage {
    // A different stride for SKUs, so one customer's orders do not always hit the same SKU.
    const sku = this.skus[(i * 7 + 3) % this.skus.length]!;
    return { messageId: this.id(kind, i), customerId: this.customer(i), items: [{ sku, quantity: 1, unitPriceCents }] };
  }
}

/** Hands out disjoint index ranges, so no two runs reuse an order ID. */
export class IndexAllocator {
  private next = 0;

  take(count: number): number {
    const first = this.next;
    this.next += count;
    return first;
  }
}
