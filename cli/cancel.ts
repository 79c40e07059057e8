import { parseArgs } from 'node:util';
import { cancelBodySchema } from '../contract/order';
import { UsageError } from '../lib/cli';
import { orderIdArgument } from './context';
import { decide } from './decision';

export const usage = `  cancel <orderId>           cancel a manual order awaiting its decision; answers once compensated
              --reason TEXT     why (up to 500 characters, stored with the order)
              --json            machine-readable`;

/** `cancel <orderId>`: as confirm; a reason the API would refuse is a usage error here. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { reason: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const orderId = orderIdArgument(positionals, 'cancel');
  const body = cancelBodySchema.safeParse({ reason: values.reason });
  if (!body.success) throw new UsageError(`--reason: ${body.error.issues[0]!.message}`);
  return decide(orderId, 'cancel', { reason: body.data.reason, json: values.json });
}
