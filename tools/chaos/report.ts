import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { ReconcileReport } from '../../cli/reconcile';
import type { Pool } from '../../db/pool';
import type { orderSaga } from '../../workflows/order-saga';
import type { Fault } from './faults';

export interface ChaosReport {
  run: string;
  /** INTAKE_LAYOUT of the stack it ran on. */
  layout: string;
  startedAt: string;
  finishedAt: string;
  sent: number;
  uniqueIds: number;
  accepted: number;
  gaveUp: number;
  workflows: number;
  orders: Record<string, number>;
  needsReview: number;
  lost: number;
  doubled: number;
  stranded: number;
  violations: number;
  unexpectedAnswers: number;
  checkBacks: number;
  injectedAfterCommit: number;
  supervisorRestarts: number;
  refunds: RefundTally;
  faults: Fault[];
  details: { lost: string[]; doubled: string[]; stranded: string[]; unexpected: unknown[]; refundsDeadLettered: string[]; reconcile: ReconcileReport };
}

export interface RefundTally {
  /** Unique refund IDs sent, by REST or Kafka. */
  sent: number;
  /** REST: accepted (200/202) or refused at once (409); Kafka: produced. */
  accepted: number;
  refused: number;
  produced: number;
  refunded: number;
  rejected: number;
  /** Kafka refunds the intake refused, in the DLQ as RefundRefused. */
  deadLettered: number;
  /** Accepted or produced, and neither stored nor dead-lettered. */
  lost: number;
  /** Still PENDING after the quiet wait. */
  stranded: number;
  /** Refund workflows with more than one run. */
  doubled: number;
}

/** Every run of this chaos run's workflows, so an ID started twice shows up as two runs. */
export async function workflowRuns(client: Client, run: string, prefix: 'order' | 'refund' = 'order'): Promise<Map<string, string[]>> {
  const runs = new Map<string, string[]>();
  for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "${prefix}-${run}-"` })) {
    runs.set(wf.workflowId, [...(runs.get(wf.workflowId) ?? []), wf.runId]);
  }
  return runs;
}

export async function orderStates(pool: Pool, ids: string[]): Promise<Map<string, { status: string; needsReview: boolean }>> {
  const { rows } = await pool.query<{ id: string; status: string; needs_review: boolean }>('select id, status, needs_review from orders where id = any($1)', [
    ids,
  ]);
  return new Map(rows.map((r) => [r.id, { status: r.status, needsReview: r.needs_review }]));
}

/** The refunds of this run as PostgreSQL ended them, and the Kafka ones the intake dead-lettered. */
export async function refundOutcomes(pool: Pool, run: string): Promise<{ statuses: Map<string, string>; deadLettered: Set<string>; reasons: string[] }> {
  const { rows } = await pool.query<{ id: string; status: string }>('select id, status from refunds where id like $1', [`${run}-%`]);
  const { rows: dead } = await pool.query<{ reason: string }>(`select reason from dead_letters where error = 'RefundRefused'`);
  const deadLettered = new Set(dead.map((d) => /^\w+: refund (\S+):/.exec(d.reason)?.[1]).filter((id): id is string => id !== undefined));
  return { statuses: new Map(rows.map((r) => [r.id, r.status])), deadLettered, reasons: dead.map((d) => d.reason) };
}

/** Check-backs the sagas used, from their results (bounded concurrency). */
export async function checkBacksUsed(client: Client, workflowIds: string[]): Promise<number> {
  let total = 0;
  const queue = [...workflowIds];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let id = queue.shift(); id; id = queue.shift()) {
        const result = await client.workflow
          .getHandle<typeof orderSaga>(id)
          .result()
          .catch(() => undefined);
        total += result?.checkBacksUsed ?? 0;
      }
    }),
  );
  return total;
}

/** The after-commit faults the workers logged (worker/fault-injection.ts). */
export function countInjectedFaults(logDir: string): number {
  let count = 0;
  // On the eager layout the API and the consumer run workers too.
  for (const file of readdirSync(logDir).filter((f) => /^(worker|api|consumer)/.test(f))) {
    count += readFileSync(path.join(logDir, file), 'utf8').split('fault injected: activity committed').length - 1;
  }
  return count;
}

export function formatReport(r: ChaosReport): string {
  const rows: [string, string | number][] = [
    ['messages sent (with duplicates and retries)', r.sent],
    ['unique message IDs', r.uniqueIds],
    ['accepted by the service', r.accepted],
    ['producer gave up (never accepted)', r.gaveUp],
    ['workflows', r.workflows],
    ...Object.entries(r.orders).map(([status, n]): [string, number] => [`orders ${status}`, n]),
    ['orders flagged for review', r.needsReview],
    ['lost', r.lost],
    ['applied twice', r.doubled],
    ['stranded', r.stranded],
    ['ledger, stock and event violations', r.violations],
    ['refunds sent (REST accepted / refused, Kafka produced)', `${r.refunds.sent} (${r.refunds.accepted} / ${r.refunds.refused}, ${r.refunds.produced})`],
    ['refunds REFUNDED / REJECTED / dead-lettered', `${r.refunds.refunded} / ${r.refunds.rejected} / ${r.refunds.deadLettered}`],
    ['refunds lost / stranded / started twice', `${r.refunds.lost} / ${r.refunds.stranded} / ${r.refunds.doubled}`],
    ['unexpected API answers', r.unexpectedAnswers],
    ['check-backs used', r.checkBacks],
    ['activity replies lost after commit (injected)', r.injectedAfterCommit],
    ['process restarts by the supervisor', r.supervisorRestarts],
    ...Object.entries(countBy(r.faults.map((f) => (f.link ? `${f.kind} on ${f.link}` : f.kind)))).map(([kind, n]): [string, number] => [`fault ${kind}`, n]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

const countBy = (values: string[]) => values.reduce<Record<string, number>>((acc, v) => ({ ...acc, [v]: (acc[v] ?? 0) + 1 }), {});
