import { parseArgs } from 'node:util';
import { idSchema } from '../contract/order';
import { CustomerIdKey, NeedsReviewKey, OrderIdKey, OrderStatusKey } from '../contract/saga';
import { UsageError } from '../lib/cli';
import { ExitCode, print, table, withServers } from './context';
import { allSagaStates, kindOfWorkflowType, sagaKinds, type SagaKind } from './saga-kinds';

export const usage = `  list                       sagas of every kind (order, refund) from Temporal's visibility, newest first
              --kind K          ${sagaKinds.map((k) => k.kind).join(' or ')} only
              --status S        ${allSagaStates.join(', ')}
              --customer ID     one customer's orders (a refund saga carries no customer)
              --order ID        one order and its refunds
              --needs-review    only sagas flagged for review
              --limit N         at most N (default 50)
              --json            machine-readable`;

const LIST_DEADLINE_MS = 10_000;

interface Filters {
  kinds: readonly SagaKind[];
  status?: string;
  customer?: string;
  order?: string;
  needsReview?: boolean;
}

const quoted = (values: string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * The visibility query; every value is checked first (a kind and a state from the table, an ID by the contract's
 * rules), so none can break out of its quotes. A state is matched on the state attribute of each kind that has it.
 */
export function listQuery(f: Filters): string {
  const kinds = f.status ? f.kinds.filter((k) => k.states.includes(f.status!)) : f.kinds;
  const types = kinds.map((k) => k.workflowType);
  const stateKeys = [...new Set(kinds.map((k) => k.stateKey.name))];
  const stateClause = stateKeys.map((key) => `${key} = '${f.status}'`).join(' OR ');
  return [
    types.length === 1 ? `WorkflowType = '${types[0]}'` : `WorkflowType IN (${quoted(types)})`,
    ...(f.status ? [stateKeys.length === 1 ? stateClause : `(${stateClause})`] : []),
    ...(f.customer ? [`${CustomerIdKey.name} = '${f.customer}'`] : []),
    ...(f.order ? [`${OrderIdKey.name} = '${f.order}'`] : []),
    ...(f.needsReview ? [`${NeedsReviewKey.name} = true`] : []),
  ].join(' AND ');
}

function parse(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      kind: { type: 'string' },
      status: { type: 'string' },
      customer: { type: 'string' },
      order: { type: 'string' },
      'needs-review': { type: 'boolean', default: false },
      limit: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const kinds = values.kind === undefined ? sagaKinds : sagaKinds.filter((k) => k.kind === values.kind!.toLowerCase());
  if (!kinds.length) throw new UsageError(`--kind must be one of ${sagaKinds.map((k) => k.kind).join(', ')}, got ${values.kind}`);
  const status = values.status?.toUpperCase();
  if (status !== undefined && !allSagaStates.includes(status))
    throw new UsageError(`--status must be one of ${allSagaStates.join(', ')}, got ${values.status}`);
  if (status !== undefined && !kinds.some((k) => k.states.includes(status))) {
    throw new UsageError(`--status ${status} is no state of a ${kinds[0]!.kind} saga (${kinds[0]!.states.join(', ')})`);
  }
  if (values.customer !== undefined && !idSchema.safeParse(values.customer).success) {
    throw new UsageError(`--customer ${JSON.stringify(values.customer)}: letters, digits and . _ : - only`);
  }
  if (values.order !== undefined && !idSchema.safeParse(values.order).success) {
    throw new UsageError(`--order ${JSON.stringify(values.order)}: letters, digits and . _ : - only`);
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${values.limit}`);
  return { kinds, status, customer: values.customer, order: values.order, needsReview: values['needs-review'], limit, json: values.json };
}

/** `2 sagas: 1 order, 1 refund`; one kind alone needs no breakdown. */
function count(sagas: { kind: string }[]): string {
  const per = sagaKinds.map((k) => [k.kind, sagas.filter((s) => s.kind === k.kind).length] as const).filter(([, n]) => n > 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return plural(sagas.length, 'saga') + (per.length > 1 ? `: ${per.map(([kind, n]) => plural(n, kind)).join(', ')}` : '');
}

/** `list`: 0 (an empty list too), 3 Temporal unreachable. */
export async function run(args: string[]): Promise<number> {
  const options = parse(args);
  const query = listQuery(options);
  return withServers(async ({ temporal }) => {
    const client = await temporal();
    const sagas = await client.withDeadline(Date.now() + LIST_DEADLINE_MS, async () => {
      const found = [];
      for await (const w of client.workflow.list({ query, pageSize: Math.min(options.limit, 1_000) })) {
        const attrs = w.typedSearchAttributes;
        const kind = kindOfWorkflowType(w.type);
        found.push({
          kind: kind?.kind ?? w.type,
          id: kind && w.workflowId.startsWith(kind.idPrefix) ? w.workflowId.slice(kind.idPrefix.length) : w.workflowId,
          state: (kind && attrs.get(kind.stateKey)) ?? null,
          /** An order's own ID; a refund's, the order it refunds. */
          orderId: attrs.get(OrderIdKey) ?? null,
          orderStatus: attrs.get(OrderStatusKey) ?? null,
          customerId: attrs.get(CustomerIdKey) ?? null,
          needsReview: attrs.get(NeedsReviewKey) ?? false,
          workflowId: w.workflowId,
          workflowType: w.type,
          runId: w.runId,
          executionStatus: w.status.name,
          taskQueue: w.taskQueue,
          startTime: w.startTime,
          closeTime: w.closeTime ?? null,
        });
        if (found.length >= options.limit) break;
      }
      return found;
    });
    const human = () =>
      sagas.length
        ? table(
            ['KIND', 'ID', 'STATUS', 'CUSTOMER', 'REVIEW', 'WORKFLOW', 'STARTED', 'ORDER'],
            sagas.map((s) => [
              s.kind,
              s.id,
              s.state ?? '-',
              s.customerId ?? '-',
              s.needsReview ? 'YES' : '-',
              s.executionStatus,
              s.startTime.toISOString(),
              s.orderId ?? '-',
            ]),
          ) + `\n${count(sagas)}${sagas.length === options.limit ? ` (--limit ${options.limit} reached)` : ''}`
        : `no sagas match: ${query}`;
    print(options.json, human, { query, sagas });
    return ExitCode.ok;
  });
}
