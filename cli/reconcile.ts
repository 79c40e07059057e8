import { parseArgs } from 'node:util';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Pool, Queryable } from '../db/pool';
import * as q from '../db/reconcile';
import { workflowIdFor } from '../domain/order';
import { UsageError } from '../lib/cli';
import { ExitCode, print, withServers } from './context';

export const usage = `  reconcile                  check every invariant of docs/reliability.md against PostgreSQL (read-only), cross-checked with Temporal
              --json            machine-readable report
              --no-temporal     skip the Temporal cross-checks (stranded and lost orders)
              --limit N         violating rows listed per check (default 100)`;

/** `reconcile`: 0 every invariant holds, 1 violations found, 3 PostgreSQL or Temporal unreachable. */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false }, 'no-temporal': { type: 'boolean', default: false }, limit: { type: 'string', default: '100' } },
    strict: true,
  });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${values.limit}`);
  // The balance and stock checks scan their tables: a minute, not the usual ten seconds.
  return withServers(
    async ({ db, temporal }) => {
      const report = await reconcile({ pool: db(), client: values['no-temporal'] ? undefined : await temporal(), limit });
      print(values.json, () => formatReport(report), report);
      return report.ok ? ExitCode.ok : ExitCode.no;
    },
    { queryTimeoutMs: 60_000 },
  );
}

export interface Check {
  name: string;
  invariant: string;
  violations: unknown[];
}

export interface ReconcileReport {
  ok: boolean;
  checks: Check[];
  /** Open orders and accepted messages cross-checked with Temporal (bounded by pendingLimit). */
  crossChecked: number;
  notices: { unresolvedClaims: unknown[]; pendingRefunds: unknown[] };
}

export interface ReconcileOptions {
  pool: Pool;
  /** Without a client the Temporal cross-checks are skipped (and say so). */
  client?: Client;
  limit?: number;
  pendingLimit?: number;
}

/** Every invariant of docs/reliability.md, read from one consistent, read-only snapshot. */
export async function reconcile({ pool, client, limit = 100, pendingLimit = 1_000 }: ReconcileOptions): Promise<ReconcileReport> {
  const db = await pool.connect();
  try {
    await db.query('begin isolation level repeatable read read only');
    const snapshot = await readSnapshot(db, limit, pendingLimit);
    await db.query('commit');
    const closed = client
      ? await closedWorkflows(client, [...snapshot.pending.map((p) => p.order_id), ...snapshot.acceptedWithoutOrder.map((a) => a.message_id)])
      : undefined;
    const checks: Check[] = [
      { name: 'balances', invariant: 'balance = opening balance + ledger', violations: snapshot.balances },
      { name: 'ledger-keys', invariant: 'no ledger key applied twice', violations: snapshot.duplicateKeys },
      { name: 'cancelled-money', invariant: 'a cancelled order leaves no net balance effect', violations: snapshot.cancelledMoney },
      { name: 'cancelled-stock', invariant: 'a cancelled order holds no stock', violations: snapshot.cancelledStock },
      { name: 'stock', invariant: 'provisioned = available + reserved by orders', violations: snapshot.stock },
      { name: 'events', invariant: 'one outgoing event per ended order, none before', violations: snapshot.events },
      { name: 'refunded', invariant: 'refunded cents = standing refund credits (never past what was paid)', violations: snapshot.refunded },
      { name: 'refund-cashback', invariant: 'cashback taken back = its ledger rows, within what was paid', violations: snapshot.cashback },
      { name: 'refund-restock', invariant: "an order's goods restocked at most once", violations: snapshot.restock },
      { name: 'refunds', invariant: 'every ended refund has its money and one event', violations: snapshot.refunds },
    ];
    if (closed) {
      checks.push(
        { name: 'stranded', invariant: 'no open order without a running saga', violations: snapshot.pending.filter((p) => closed.has(p.order_id)) },
        {
          name: 'lost',
          invariant: 'every accepted message has its order or a running saga',
          violations: snapshot.acceptedWithoutOrder.filter((a) => closed.has(a.message_id)),
        },
      );
    }
    return {
      ok: checks.every((c) => c.violations.length === 0),
      checks,
      crossChecked: closed ? snapshot.pending.length + snapshot.acceptedWithoutOrder.length : 0,
      notices: { unresolvedClaims: snapshot.unresolved, pendingRefunds: snapshot.pendingRefunds },
    };
  } catch (err) {
    await db.query('rollback').catch(() => undefined);
    throw err;
  } finally {
    db.release();
  }
}

async function readSnapshot(db: Queryable, limit: number, pendingLimit: number) {
  return {
    balances: await q.selectBalanceMismatches(db, limit),
    duplicateKeys: await q.selectDuplicateLedgerKeys(db, limit),
    cancelledMoney: await q.selectCancelledWithBalanceEffect(db, limit),
    cancelledStock: await q.selectCancelledHoldingStock(db, limit),
    stock: await q.selectStockMismatches(db, limit),
    events: await q.selectEventCountMismatches(db, limit),
    refunded: await q.selectRefundedCentsMismatches(db, limit),
    cashback: await q.selectRewardTakeBackMismatches(db, limit),
    restock: await q.selectRestockMismatches(db, limit),
    refunds: await q.selectRefundEffectMismatches(db, limit),
    pendingRefunds: await q.selectPendingRefunds(db, 600, limit),
    pending: await q.selectPendingOrders(db, pendingLimit),
    acceptedWithoutOrder: await q.selectAcceptedWithoutOrder(db, pendingLimit),
    unresolved: await q.selectUnresolvedClaims(db, 600, limit),
  };
}

/** The order IDs among `orderIds` whose saga is not running (closed, or never started). */
async function closedWorkflows(client: Client, orderIds: string[]): Promise<Set<string>> {
  const closed = new Set<string>();
  const queue = [...orderIds];
  const lookup = async () => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const running = await client
        .withDeadline(Date.now() + 5_000, () => client.workflow.getHandle(workflowIdFor(id)).describe())
        .then((d) => d.status.name === 'RUNNING')
        .catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        });
      if (!running) closed.add(id);
    }
  };
  await Promise.all(Array.from({ length: 16 }, lookup));
  return closed;
}

export function formatReport(report: ReconcileReport): string {
  const width = Math.max(...report.checks.map((c) => c.invariant.length));
  const lines = report.checks.map((c) => {
    const mark = c.violations.length ? `${c.violations.length} VIOLATION(S)` : 'ok';
    const examples = c.violations.slice(0, 5).map((v) => `      ${JSON.stringify(v)}`);
    return [`  ${c.invariant.padEnd(width)}  ${mark}`, ...examples].join('\n');
  });
  if (!report.checks.some((c) => c.name === 'stranded')) lines.push('  (Temporal cross-checks skipped: --no-temporal)');
  else lines.push(`  (${report.crossChecked} open orders and accepted messages cross-checked with Temporal)`);
  if (report.notices.unresolvedClaims.length) {
    lines.push(
      `  notice: ${report.notices.unresolvedClaims.length} message claim(s) unresolved for over 10 minutes (a 503 answered; the producer may still retry)`,
    );
  }
  if (report.notices.pendingRefunds.length) {
    lines.push(
      `  notice: ${report.notices.pendingRefunds.length} refund(s) PENDING for over 10 minutes (a saga waiting on a step or a compensation, or a stored refund the API's sweep could not start yet)`,
    );
  }
  return [`reconcile: ${report.ok ? 'every invariant holds' : 'VIOLATIONS FOUND'}`, ...lines].join('\n');
}
