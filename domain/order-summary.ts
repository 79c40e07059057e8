import type { ConfirmationMode, OrderItem } from './order';
import { orderTotalCents } from './order';

/** Whole cents as `12345.67`: integer arithmetic only, no floating point on the way. */
export function formatCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not a whole number of cents: ${cents}`);
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

interface SummaryInput {
  customerId: string;
  items: readonly OrderItem[];
  confirmation?: ConfirmationMode;
  confirmWithin?: string;
}

/** One line for the Web UI's workflow list; IDs are restricted to [A-Za-z0-9._:-] by the contract. */
export function orderSummary(order: SummaryInput): string {
  const count = order.items.reduce((n, item) => n + item.quantity, 0);
  return `${order.customerId} · ${count} item${count === 1 ? '' : 's'} · ${formatCents(orderTotalCents(order.items))} · ${order.confirmation ?? 'auto'}`;
}

/** Markdown for the Web UI's detail view; IDs in code spans so `_` or `:` never read as markup. */
export function orderDetails(order: SummaryInput): string {
  const mode = order.confirmation === 'manual' ? `manual, confirm within ${order.confirmWithin ?? '10 minutes'}` : 'auto';
  return [
    `**Customer** \`${order.customerId}\`  `,
    `**Mode** ${mode}  `,
    `**Total** ${formatCents(orderTotalCents(order.items))}`,
    '',
    ...order.items.map((i) => `- \`${i.sku}\` × ${i.quantity} at ${formatCents(i.unitPriceCents)} = ${formatCents(i.quantity * i.unitPriceCents)}`),
  ].join('\n');
}
