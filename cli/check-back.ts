import { parseArgs } from 'node:util';
import { OrderNotFoundError } from '../intake/decide-order';
import { CHECK_BACK_WAIT_MS, checkBackNow, ReviewRefusedError } from '../intake/review-order';
import type { CheckBackOutcome } from '../contract/saga';
import { CommandFailure, ExitCode, orderIdArgument, print, withServers } from './context';

export const usage = `  check-back <orderId>       a step in doubt: check back now instead of after the interval; prints what the check found
              --json            machine-readable`;

const meaning: Record<CheckBackOutcome['state'], string> = {
  applied: 'applied: the saga goes on',
  'not-applied': 'did not apply: the saga compensates',
  compensated: 'already compensated: the saga compensates',
  fenced: 'fenced: the saga compensates',
  unknown: 'still unknown: the saga keeps checking back',
};

/** `check-back <orderId>`: 0 checked, 1 unknown order or nothing in doubt, 3 unreachable. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  const orderId = orderIdArgument(positionals, 'check-back');
  return withServers(async ({ db, temporal }) => {
    let outcome;
    try {
      outcome = await checkBackNow({ client: await temporal(), pool: db() }, orderId);
    } catch (err) {
      if (err instanceof OrderNotFoundError) throw new CommandFailure('OrderNotFound', err.message);
      if (err instanceof ReviewRefusedError) throw new CommandFailure(err.code, `${err.code}: ${err.message}`, ExitCode.no, err.current);
      throw err;
    }
    const human = () =>
      outcome.state === 'checking'
        ? `order ${orderId}: the saga is checking back; it had not answered in ${CHECK_BACK_WAIT_MS / 1000} s (see \`status ${orderId}\`)`
        : `order ${orderId}: ${outcome.step} ${meaning[outcome.state]} (check-backs used: ${outcome.checkBacksUsed})`;
    print(values.json, human, outcome);
    return ExitCode.ok;
  });
}
