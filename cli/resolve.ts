import os from 'node:os';
import { parseArgs } from 'node:util';
import { freeText, idSchema } from '../contract/order';
import { OrderNotFoundError } from '../intake/decide-order';
import { resolveOrder, ReviewRefusedError, type ResolutionResult } from '../intake/review-order';
import { UsageError } from '../lib/cli';
import { Limits } from '../domain/limits';
import { CommandFailure, ExitCode, orderIdArgument, print, withServers } from './context';

export const usage = `  resolve <orderId>          record an operator's resolution of a flagged order (stored once, never edited) and clear its flag
              --note TEXT       what was found or done (required, up to 500 characters)
              --by NAME         who resolved it (default: this user's login name)
              --json            machine-readable`;

const noteSchema = freeText(Limits.maxReasonLength).min(1, 'must not be empty');

function describe(r: ResolutionResult): string {
  const saga = r.saga === 'released' ? 'its saga cleared NeedsReview and completed' : 'its saga had already ended';
  return `order ${r.orderId}: resolved by ${r.resolvedBy} at ${r.resolvedAt}${r.created ? '' : ' (stored before)'}; ${saga}\n  flagged  ${r.reviewReason}\n  note     ${r.note}`;
}

/** `resolve <orderId> --note`: 0 resolved (or the same resolution again), 1 unknown, not flagged or resolved otherwise, 3 unreachable. */
export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { note: { type: 'string' }, by: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const orderId = orderIdArgument(positionals, 'resolve');
  if (values.note === undefined) throw new UsageError('resolve needs --note "what was found or done"');
  const note = noteSchema.safeParse(values.note);
  if (!note.success) throw new UsageError(`--note: ${note.error.issues[0]!.message}`);
  const byGiven = values.by ?? os.userInfo().username;
  const by = idSchema.safeParse(byGiven);
  if (!by.success) throw new UsageError(`--by ${JSON.stringify(byGiven)}: ${by.error.issues[0]!.message}`);
  return withServers(async ({ db, temporal }) => {
    let result;
    try {
      result = await resolveOrder({ client: await temporal(), pool: db() }, { orderId, resolvedBy: by.data, note: note.data });
    } catch (err) {
      if (err instanceof OrderNotFoundError) throw new CommandFailure('OrderNotFound', err.message);
      if (err instanceof ReviewRefusedError) throw new CommandFailure(err.code, `${err.code}: ${err.message}`, ExitCode.no, err.current);
      throw err;
    }
    print(values.json, () => describe(result), result);
    return ExitCode.ok;
  });
}
