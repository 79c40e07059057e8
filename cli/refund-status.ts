import { parseArgs } from 'node:util';
import { ledgerKeys } from '../billing/balance';
import { RefundStatusKey, refundStatusQuery } from '../contract/refund-saga';
import { selectLedgerEntryByKey } from '../db/ledger';
import { selectSagaSteps } from '../db/order-status';
import { selectRefund } from '../db/refunds';
import { formatCents } from '../domain/order-summary';
import { refundStepKey, refundWorkflowIdFor } from '../domain/refund';
import { UsageError } from '../lib/cli';
import { idSchema } from '../contract/order';
import { CommandFailure, ExitCode, print, unreachable, withServers } from './context';
import { refundViewOf } from './order-money';
import { readSaga, sagaLine, uiLink } from './saga-execution';

export const usage = `  refund-status <refundId>   a refund: its order, amount, reason, state (and why rejected), credit and cashback taken back, steps, Web UI link
              --json            machine-readable`;

function refundIdArgument(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError(`refund-status takes one refund ID, got ${positionals.length}`);
  const parsed = idSchema.safeParse(positionals[0]);
  if (!parsed.success) throw new UsageError(`refund ID ${JSON.stringify(positionals[0])}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** `refund-status <refundId>`: 0 found, 1 unknown, 3 PostgreSQL or Temporal unreachable (what PostgreSQL holds is still printed). */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  const refundId = refundIdArgument(positionals);
  return withServers(async ({ config, db, temporal }) => {
    const row = await selectRefund(db(), refundId);
    const steps = await selectSagaSteps(db(), refundStepKey(refundId));
    const credit = await selectLedgerEntryByKey(db(), ledgerKeys.refundCredit(refundId));
    const rewardTaken = await selectLedgerEntryByKey(db(), ledgerKeys.refundReward(refundId));
    let known;
    let temporalDown = false;
    try {
      known = await readSaga(await temporal(), refundWorkflowIdFor(refundId), { query: refundStatusQuery, stateKey: RefundStatusKey });
    } catch (err) {
      const down = err instanceof CommandFailure ? err.exitCode === ExitCode.unavailable : Boolean(unreachable(err, config));
      if (!row || !down) throw err;
      temporalDown = true;
    }
    if (!row && !known) throw new CommandFailure('RefundNotFound', `no refund ${refundId}`);
    const saga = known?.saga ?? null;
    const running = known?.workflow.status === 'RUNNING' ? (saga?.state ?? known.searchState ?? 'RUNNING') : undefined;
    const view = {
      ...(row ? refundViewOf(row) : { refundId, orderId: saga?.orderId ?? null }),
      state: running ?? row?.status ?? 'PENDING',
      creditedCents: credit?.amount_cents ?? null,
      cashbackTakenBackCents: rewardTaken ? -rewardTaken.amount_cents : null,
      steps: steps.map((s) => ({ step: s.step, state: s.state, updatedAt: s.updated_at })),
      compensations: saga?.compensationsDone ?? null,
      checkBacksUsed: saga?.checkBacksUsed ?? null,
      needsReview: saga?.needsReview ?? false,
      reviewReason: saga?.reviewReason ?? null,
      saga,
      workflow: known?.workflow ?? null,
      ...(known?.note ? { sagaNote: known.note } : {}),
      ...(temporalDown ? { workflowUnreachable: true } : {}),
      uiUrl: known ? uiLink(config, known.workflow) : null,
    };
    const human = () => {
      const line = (label: string, value: string) => `  ${label.padEnd(14)} ${value}`;
      const lines = [`refund ${refundId}  ${view.state}`];
      if (view.orderId) lines.push(line('order', view.orderId));
      if (row) lines.push(line('amount', formatCents(row.amount_cents)));
      if (row?.reason) lines.push(line('reason', row.reason));
      if (row?.reject_reason) lines.push(line('rejected', row.reject_reason));
      if (view.creditedCents !== null) {
        const taken = view.cashbackTakenBackCents ? `, cashback taken back ${formatCents(view.cashbackTakenBackCents)}` : '';
        lines.push(line('credited', `${formatCents(view.creditedCents)}${taken}`));
      }
      lines.push(line('steps', view.steps.length ? view.steps.map((s) => `${s.step} ${s.state}`).join(', ') : 'none recorded'));
      if (view.compensations)
        lines.push(line('compensations', view.compensations.length ? view.compensations.map((c) => `${c.step} ${c.outcome}`).join(', ') : 'none'));
      if (view.checkBacksUsed !== null) lines.push(line('check-backs', String(view.checkBacksUsed)));
      lines.push(line('needs review', view.needsReview ? `YES${view.reviewReason ? `: ${view.reviewReason}` : ''}` : 'no'));
      const sagaText = sagaLine(view.workflow, Boolean(view.workflowUnreachable));
      if (sagaText) lines.push(line('saga', sagaText));
      if (view.sagaNote) lines.push(line('', view.sagaNote));
      if (view.uiUrl) lines.push(line('Web UI', view.uiUrl));
      return lines.join('\n');
    };
    print(values.json, human, view);
    if (!view.workflowUnreachable) return ExitCode.ok;
    process.stderr.write(`error: cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS); the above is what PostgreSQL holds\n`);
    return ExitCode.unavailable;
  });
}
