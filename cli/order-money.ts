import { ledgerKeys } from '../billing/balance';
import { selectLedgerEntryByKey } from '../db/ledger';
import type { OrderRow } from '../db/orders';
import type { Queryable } from '../db/pool';
import { selectRecentRefundsOfOrder, type RefundRow } from '../db/refunds';
import { formatCents } from '../domain/order-summary';

/** As many refunds as `GET /orders/:id` lists; the count says when there are more. */
const LISTED_REFUNDS = 20;

export function refundViewOf(r: RefundRow) {
  return {
    refundId: r.id,
    orderId: r.order_id,
    status: r.status,
    amountCents: r.amount_cents,
    reason: r.reason,
    rejectReason: r.reject_reason,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** What an order paid back and gave back: the cashback its commit paid (and refunds took back), and its refunds. */
export async function readOrderMoney(db: Queryable, row: OrderRow) {
  const reward = await selectLedgerEntryByKey(db, ledgerKeys.reward(row.id));
  const { refunds, total } = await selectRecentRefundsOfOrder(db, row.id, LISTED_REFUNDS);
  return {
    cashback: {
      ledgerKey: ledgerKeys.reward(row.id),
      /** Null until the commit paid it (never, for a cancelled order or one too small to earn a cent). */
      paidCents: reward?.amount_cents ?? null,
      paidAt: reward?.created_at.toISOString() ?? null,
      takenBackCents: row.reward_taken_back_cents,
    },
    refundedCents: row.refunded_cents,
    refundCount: total,
    refunds: refunds.map(refundViewOf),
  };
}

type OrderMoney = Awaited<ReturnType<typeof readOrderMoney>>;

/** The labelled lines of a status view: cashback, then each refund (oldest first) with its state. */
export function orderMoneyLines(m: Omit<OrderMoney, 'refundedCents'> & { refundedCents: number | null }, ended: boolean): [string, string][] {
  const { paidCents, takenBackCents } = m.cashback;
  const paid = paidCents === null ? (ended ? 'none' : 'none yet (the commit pays it)') : `${formatCents(paidCents)} paid`;
  const lines: [string, string][] = [['cashback', takenBackCents ? `${paid}, ${formatCents(takenBackCents)} taken back by refunds` : paid]];
  if (!m.refundCount) return [...lines, ['refunds', 'none']];
  const earlier = m.refundCount - m.refunds.length;
  lines.push(['refunds', `${m.refundCount}, ${formatCents(m.refundedCents ?? 0)} refunded${earlier ? ` (the ${earlier} oldest not shown)` : ''}`]);
  const width = (cells: string[]) => Math.max(...cells.map((c) => c.length));
  const [idWidth, statusWidth, amountWidth] = [
    width(m.refunds.map((r) => r.refundId)),
    width(m.refunds.map((r) => r.status)),
    width(m.refunds.map((r) => formatCents(r.amountCents))),
  ];
  for (const r of m.refunds) {
    const why = [r.reason, r.rejectReason && `rejected: ${r.rejectReason}`].filter(Boolean).join('; ');
    const cells = [r.refundId.padEnd(idWidth), r.status.padEnd(statusWidth), formatCents(r.amountCents).padStart(amountWidth), why];
    lines.push(['', cells.join('  ').trimEnd()]);
  }
  return lines;
}
