import { parseArgs } from 'node:util';
import { idSchema } from '../contract/order';
import { CustomerIdKey, NeedsReviewKey, OrderIdKey, OrderStatusKey, type SagaState } from '../contract/saga';
import { UsageError } from '../lib/cli';
import { ExitCode, print, table, withServers } from './context';

export const usage = `  list                       sagas from Temporal's visibility, newest first
              --status S        RUNNING, AWAITING_CONFIRMATION, COMPENSATING, CONFIRMED or CANCELLED
              --customer ID     one customer's orders
              --needs-review    only orders flagged for review
              --limit N         at most N (default 50)
              --json            machine-readable`;

const states: SagaState[] = ['RUNNING', 'AWAITING_CONFIRMATION', 'COMPENSATING', 'CONFIRMED', 'CANCELLED'];
const LIST_DEADLINE_MS = 10_000;

/** The visibility query; every value is checked first (a state from the list, an ID by the contract's rules), so none can break out of its quotes. */
export function listQuery(f: { status?: SagaState; customer?: string; needsReview?: boolean }): string {
  return [
    `WorkflowType = 'orderSaga'`,
    ...(f.status ? [`${OrderStatusKey.name} = '${f.status}'`] : []),
    ...(f.customer ? [`${CustomerIdKey.name} = '${f.customer}'`] : []),
    ...(f.needsReview ? [`${NeedsReviewKey.name} = true`] : []),
  ].join(' AND ');
}

function parse(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      status: { type: 'string' },
      customer: { type: 'string' },
      'needs-review': { type: 'boolean', default: false },
      limit: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const status = values.status?.toUpperCase() as SagaState | undefined;
  if (status !== undefined && !states.includes(status)) throw new UsageError(`--status must be one of ${states.join(', ')}, got ${values.status}`);
  if (values.customer !== undefined && !idSchema.safeParse(values.customer).success) {
    throw new UsageError(`--customer ${JSON.stringify(values.customer)}: letters, digits and . _ : - only`);
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got ${values.limit}`);
  return { status, customer: values.customer, needsReview: values['needs-review'], limit, json: values.json };
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
        found.push({
          orderId: attrs.get(OrderIdKey) ?? w.workflowId.replace(/^order-/, ''),
          orderStatus: attrs.get(OrderStatusKey) ?? null,
          customerId: attrs.get(CustomerIdKey) ?? null,
          needsReview: attrs.get(NeedsReviewKey) ?? false,
          workflowId: w.workflowId,
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
            ['ORDER', 'STATUS', 'CUSTOMER', 'REVIEW', 'WORKFLOW', 'STARTED'],
            sagas.map((s) => [s.orderId, s.orderStatus ?? '-', s.customerId ?? '-', s.needsReview ? 'YES' : '-', s.executionStatus, s.startTime.toISOString()]),
          ) + `\n${sagas.length} saga${sagas.length === 1 ? '' : 's'}${sagas.length === options.limit ? ` (--limit ${options.limit} reached)` : ''}`
        : `no sagas match: ${query}`;
    print(options.json, human, { query, sagas });
    return ExitCode.ok;
  });
}
