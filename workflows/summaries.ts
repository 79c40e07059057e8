import { orderTotalCents, type OrderItem, type SagaStep } from '../domain/order';
import { formatCents } from '../domain/order-summary';
import type { SagaProgress } from '../contract/saga-kit';

/**
 * One-line summaries the Web UI shows beside each activity and timer, and the saga's current details.
 * They are metadata: no command changes, so recorded histories replay unchanged.
 */

const MAX_LISTED_ITEMS = 3;

function itemList(items: readonly OrderItem[]): string {
  const listed = items.slice(0, MAX_LISTED_ITEMS).map((i) => `${i.quantity}× ${i.sku}`);
  return items.length > MAX_LISTED_ITEMS ? `${listed.join(', ')} and ${items.length - MAX_LISTED_ITEMS} more` : listed.join(', ');
}

/** Never throws: a summary must not fail a workflow task, whatever the input. */
function amountOf(items: readonly OrderItem[]): string {
  try {
    return formatCents(orderTotalCents(items));
  } catch {
    return '(total out of range)';
  }
}

export function stepSummaries(order: { orderId: string; customerId: string; items: readonly OrderItem[] }) {
  const amount = amountOf(order.items);
  return {
    open: `open order ${order.orderId}`,
    reserve: `reserve ${itemList(order.items)}`,
    debit: `debit ${order.customerId} ${amount}`,
    settle: (decision: string) => `settle decision: ${decision}`,
    commit: `commit order ${order.orderId}`,
    refund: `refund ${order.customerId} ${amount}`,
    release: `release ${itemList(order.items)}`,
    cancel: `cancel order ${order.orderId}`,
    checkBack: (step: SagaStep, check: number, of: number) => `check back: did ${step} apply? (${check} of ${of})`,
    waitForDecision: (until: Date) => `wait for confirmation until ${until.toISOString()}`,
  };
}

/** A saga's current details in the Web UI: state, step, and what has been applied and undone. */
export function currentDetails(status: SagaProgress<string, string, string>): string {
  const lines = [`**${status.state}** · step \`${status.currentStep}\``];
  if (status.stepsApplied.length > 0) lines.push(`applied: ${status.stepsApplied.join(', ')}`);
  if (status.compensationsDone.length > 0) lines.push(`compensated: ${status.compensationsDone.map((c) => `${c.step} (${c.outcome})`).join(', ')}`);
  if (status.checkBacksUsed > 0) lines.push(`check-backs: ${status.checkBacksUsed}`);
  if (status.needsReview) lines.push(`**needs review**: ${status.reviewReason ?? ''}`);
  return lines.join('  \n');
}
