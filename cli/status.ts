import { parseArgs } from 'node:util';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import { OrderStatusKey, statusQuery, type OrderSagaStatus } from '../contract/saga';
import { selectOrder, type OrderRow } from '../db/orders';
import { selectSagaSteps } from '../db/order-status';
import { selectProcessedMessage } from '../db/processed-messages';
import { selectResolution, type ResolutionRow } from '../db/resolutions';
import { resolutionView } from '../intake/review-order';
import { formatCents } from '../domain/order-summary';
import { workflowIdFor } from '../domain/order';
import type { orderSaga } from '../workflows/order-saga';
import { CommandFailure, ExitCode, orderIdArgument, print, unreachable, withServers } from './context';

export const usage = `  status <orderId>           an order: state, steps, compensations, check-backs, decision, review flag, Web UI link
              --json            machine-readable`;

const DESCRIBE_DEADLINE_MS = 5_000;
const QUERY_DEADLINE_MS = 3_000;

/** The saga as Temporal knows it: its execution, and its status (the query while it runs, the result once completed). */
async function readSaga(client: Client, orderId: string) {
  const handle = client.workflow.getHandle<typeof orderSaga>(workflowIdFor(orderId));
  let described;
  try {
    described = await client.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, () => handle.describe());
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  const { workflowId, runId, status, taskQueue, startTime, closeTime, historyLength } = described;
  const workflow = { workflowId, runId, status: status.name, taskQueue, startTime, closeTime: closeTime ?? null, historyLength };
  const searchState = described.typedSearchAttributes.get(OrderStatusKey);
  const running = status.name === 'RUNNING';
  let saga: OrderSagaStatus | undefined;
  let note: string | undefined;
  try {
    if (running) saga = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(statusQuery));
    else if (status.name === 'COMPLETED') saga = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.result());
  } catch {
    // A running saga answers the query only through a worker; Temporal itself answered the describe.
    note = running ? `the status query went unanswered for ${QUERY_DEADLINE_MS / 1000} s: is a worker polling ${taskQueue}?` : 'its result could not be read';
  }
  return { workflow, saga, note, searchState };
}

function uiLink(config: Config, workflow: { workflowId: string; runId: string }): string {
  const base = config.TEMPORAL_UI_URL ?? `http://${config.TEMPORAL_ADDRESS.split(':')[0]}:${config.TEMPORAL_UI_PORT}`;
  const path = ['namespaces', config.TEMPORAL_NAMESPACE, 'workflows', workflow.workflowId, workflow.runId, 'history'].map(encodeURIComponent).join('/');
  return `${base.replace(/\/+$/, '')}/${path}`;
}

type View = ReturnType<typeof buildView>;

function buildView(
  orderId: string,
  row: OrderRow | undefined,
  steps: Awaited<ReturnType<typeof selectSagaSteps>>,
  temporal: Awaited<ReturnType<typeof readSaga>> | 'unreachable',
  config: Config,
  resolution: ResolutionRow | undefined,
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
  if (v.workflow) {
    const w = v.workflow;
    const closed = w.closeTime ? `, closed ${w.closeTime.toISOString()}` : '';
    lines.push(line('saga', `${w.workflowId} ${w.status} on ${w.taskQueue}, run ${w.runId}, started ${w.startTime.toISOString()}${closed}`));
  } else if (!v.workflowUnreachable) {
    lines.push(line('saga', 'no workflow in Temporal (closed and past retention, or never started)'));
  }
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
    let saga: Awaited<ReturnType<typeof readSaga>> | 'unreachable';
    try {
      saga = await readSaga(await temporal(), orderId);
    } catch (err) {
      // Without Temporal, what PostgreSQL holds is still worth printing, followed by the error.
      const down = err instanceof CommandFailure ? err.exitCode === ExitCode.unavailable : Boolean(unreachable(err, config));
      if (!row || !down) throw err;
      saga = 'unreachable';
    }
    if (!row && !accepted && !saga) throw new CommandFailure('OrderNotFound', `no order ${orderId}`);
    const view = buildView(orderId, row, steps, saga, config, resolution);
    print(values.json, () => formatView(view), view);
    if (saga !== 'unreachable') return ExitCode.ok;
    process.stderr.write(`error: cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS); the above is what PostgreSQL holds\n`);
    return ExitCode.unavailable;
  });
}
