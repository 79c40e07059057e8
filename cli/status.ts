import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { OrderStatusKey, statusQuery } from '../contract/saga';
import { selectOrder, type OrderRow } from '../db/orders';
import { selectSagaSteps } from '../db/order-status';
import { selectProcessedMessage } from '../db/processed-messages';
import { selectRefund } from '../db/refunds';
import { selectResolution, type ResolutionRow } from '../db/resolutions';
import { resolutionView } from '../intake/review-order';
import { formatCents } from '../domain/order-summary';
import { workflowIdFor } from '../domain/order';
import { CommandFailure, ExitCode, orderIdArgument, print, unreachable, withServers } from './context';
import { orderMoneyLines, readOrderMoney } from './order-money';
import { readSaga, sagaLine, uiLink } from './saga-execution';

export const usage = `  status <orderId>           an order: state, cashback, refunds, steps, compensations, check-backs, decision, review flag, Web UI link
              --json            machine-readable`;

const readOrderSaga = (client: Client, orderId: string) => readSaga(client, workflowIdFor(orderId), { query: statusQuery, stateKey: OrderStatusKey });

type View = ReturnType<typeof buildView>;

function buildView(
  orderId: string,
  row: OrderRow | undefined,
  steps: Awaited<ReturnType<typeof selectSagaSteps>>,
  temporal: Awaited<ReturnType<typeof readOrderSaga>> | 'unreachable',
  config: Config,
  resolution: ResolutionRow | undefined,
  money: Awaited<ReturnType<typeof readOrderMoney>> | undefined,
) {
  const known = temporal === 'unreachable' ? undefined : temporal;
  const saga = known?.saga ?? null;
  const runningState = known?.workflow.status === 'RUNNING' ? (saga?.state ?? known.searchState ?? 'RUNNING') : undefined;
  return {
    orderId,
    state: runningState ?? row?.status ?? 'PENDING',
    customerId: row?.customer_id ?? null,
    items: row?.items ?? [],
    totalCents: row?.total_cents ?? null,
    cashback: money?.cashback ?? null,
    refundedCents: money?.refundedCents ?? null,
    refundCount: money?.refundCount ?? 0,
    refunds: money?.refunds ?? [],
    confirmation: row?.confirmation ?? null,
    decision: row?.confirmation_decision ?? null,
    cancelReason: row?.cancel_reason ?? null,
    needsReview: Boolean(row?.needs_review || saga?.needsReview),
    reviewReason: row?.review_reason ?? saga?.reviewReason ?? null,
    resolution: resolution ? resolutionView(resolution) : null,
    steps: steps.map((s) => ({ step: s.step, state: s.state, updatedAt: s.updated_at })),
    compensations: saga?.compensationsDone ?? null,
    checkBacksUsed: saga?.checkBacksUsed ?? null,
    saga,
    workflow: known?.workflow ?? null,
    ...(known?.note ? { sagaNote: known.note } : {}),
    ...(temporal === 'unreachable' ? { workflowUnreachable: true } : {}),
    uiUrl: known ? uiLink(config, known.workflow) : null,
  };
}

function formatView(v: View): string {
  const line = (label: string, value: string) => `  ${label.padEnd(14)} ${value}`;
  const lines = [`order ${v.orderId}  ${v.state}`];
  if (v.customerId) lines.push(line('customer', v.customerId));
  for (const [i, item] of v.items.entries()) {
    lines.push(line(i ? '' : 'items', `${item.quantity} × ${item.sku} at ${formatCents(item.unitPriceCents)}`));
  }
  if (v.totalCents !== null) lines.push(line('total', formatCents(v.totalCents)));
  if (v.cashback) {
    const ended = v.state === 'CONFIRMED' || v.state === 'CANCELLED';
    for (const [label, value] of orderMoneyLines({ ...v, cashback: v.cashback }, ended)) lines.push(line(label, value));
  }
  if (v.confirmation) lines.push(line('confirmation', `${v.confirmation}${v.confirmation === 'manual' ? `, decision: ${v.decision ?? 'none yet'}` : ''}`));
  lines.push(line('steps', v.steps.length ? v.steps.map((s) => `${s.step} ${s.state}`).join(', ') : 'none recorded'));
  if (v.compensations) lines.push(line('compensations', v.compensations.length ? v.compensations.map((c) => `${c.step} ${c.outcome}`).join(', ') : 'none'));
  if (v.checkBacksUsed !== null) lines.push(line('check-backs', String(v.checkBacksUsed)));
  if (v.cancelReason) lines.push(line('cancel reason', v.cancelReason));
  lines.push(line('needs review', v.needsReview ? `YES${v.reviewReason ? `: ${v.reviewReason}` : ''}` : 'no'));
  if (v.resolution) {
    lines.push(line('resolved', `by ${v.resolution.resolvedBy} at ${v.resolution.resolvedAt} (flagged: ${v.reviewReason ?? '-'})`));
    lines.push(line('', v.resolution.note));
  }
  const saga = sagaLine(v.workflow, Boolean(v.workflowUnreachable));
  if (saga) lines.push(line('saga', saga));
  if (v.sagaNote) lines.push(line('', v.sagaNote));
  if (v.uiUrl) lines.push(line('Web UI', v.uiUrl));
  return lines.join('\n');
}

/** `status <orderId>`: 0 found, 1 unknown, 3 PostgreSQL or Temporal unreachable (what PostgreSQL holds is still printed). */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  const orderId = orderIdArgument(positionals, 'status');
  return withServers(async ({ config, db, temporal }) => {
    const row = await selectOrder(db(), orderId);
    const steps = await selectSagaSteps(db(), orderId);
    const resolution = row?.review_reason ? await selectResolution(db(), orderId) : undefined;
    const accepted = row ? true : Boolean(await selectProcessedMessage(db(), orderId));
    const money = row ? await readOrderMoney(db(), row) : undefined;
    let saga: Awaited<ReturnType<typeof readOrderSaga>> | 'unreachable';
    try {
      saga = await readOrderSaga(await temporal(), orderId);
    } catch (err) {
      // Without Temporal, what PostgreSQL holds is still worth printing, followed by the error.
      const down = err instanceof CommandFailure ? err.exitCode === ExitCode.unavailable : Boolean(unreachable(err, config));
      if (!row || !down) throw err;
      saga = 'unreachable';
    }
    if (!row && !accepted && !saga) {
      const refund = await selectRefund(db(), orderId);
      throw new CommandFailure('OrderNotFound', `no order ${orderId}${refund ? ` (a refund has that ID: see \`refund-status ${orderId}\`)` : ''}`);
    }
    const view = buildView(orderId, row, steps, saga, config, resolution, money);
    print(values.json, () => formatView(view), view);
    if (saga !== 'unreachable') return ExitCode.ok;
    process.stderr.write(`error: cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS); the above is what PostgreSQL holds\n`);
    return ExitCode.unavailable;
  });
}
