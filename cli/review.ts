import { parseArgs } from 'node:util';
import { listFlaggedOrders } from '../intake/review-order';
import { UsageError } from '../lib/cli';
import { formatCents } from '../domain/order-summary';
import { ExitCode, print, table, withServers } from './context';

export const usage = `  review                     orders flagged for review and not yet resolved, longest waiting first, with why
              --limit N         at most N (100)
              --json            machine-readable`;

/** `review`: 0 (an empty queue too), 3 PostgreSQL unreachable. */
export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { limit: { type: 'string', default: '100' }, json: { type: 'boolean', default: false } }, strict: true });
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new UsageError(`--limit must be a whole number from 1 to 1000, got ${values.limit}`);
  return withServers(async ({ db }) => {
    const orders = await listFlaggedOrders(db(), limit);
    const human = () =>
      orders.length
        ? table(
            ['ORDER', 'STATUS', 'CUSTOMER', 'TOTAL', 'FLAGGED', 'WHY'],
            orders.map((o) => [o.orderId, o.status, o.customerId, formatCents(o.totalCents), o.flaggedAt, o.reviewReason ?? '-']),
          ) + `\n${orders.length} order${orders.length === 1 ? '' : 's'} to review; resolve one with: npm run saga -- resolve <orderId> --note "..."`
        : 'no orders need review';
    print(values.json, human, { orders });
    return ExitCode.ok;
  });
}
