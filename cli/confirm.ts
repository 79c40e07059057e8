import { parseArgs } from 'node:util';
import { orderIdArgument } from './context';
import { decide } from './decision';

export const usage = `  confirm <orderId>          confirm a manual order awaiting its decision; answers once committed
              --json            machine-readable`;

/** `confirm <orderId>`: 0 confirmed (or accepted and still committing), 1 unknown or refused, 3 Temporal or PostgreSQL unreachable. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  return decide(orderIdArgument(positionals, 'confirm'), 'confirm', { json: values.json });
}
