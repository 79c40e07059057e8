import { runCommand, UsageError } from '../lib/cli';
import * as cancel from './cancel';
import * as checkBack from './check-back';
import * as confirm from './confirm';
import { CommandFailure, ExitCode, reportFailure } from './context';
import { deployUsage, runDeploy } from './deploy';
import * as list from './list';
import * as reconcile from './reconcile';
import * as refundStatus from './refund-status';
import * as replayDlq from './replay-dlq';
import * as resolve from './resolve';
import * as review from './review';
import * as status from './status';
import * as topology from './topology';

interface Command {
  usage: string;
  run(args: string[]): Promise<number>;
}

/** One entry per command, each in its own file under cli/. */
const commands: Record<string, Command> = {
  status,
  'refund-status': refundStatus,
  list,
  confirm,
  cancel,
  review,
  resolve,
  'check-back': checkBack,
  'replay-dlq': replayDlq,
  reconcile,
  topology,
  deploy: { usage: deployUsage, run: runDeploy },
};

const usage = `usage: npm run saga -- <command> [options]

commands:
${Object.values(commands)
  .map((c) => c.usage)
  .join('\n')}

exit codes: 0 done · 1 the answer is no (unknown order, decision or resolution refused, invariants violated, records left unreplayed)
            2 bad usage · 3 PostgreSQL, Temporal or Kafka unreachable (the line names it; nothing was decided: retry)`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help') {
    process.stdout.write(`${usage}\n`);
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof CommandFailure) return reportFailure(err, rest.includes('--json'));
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      // The command's own usage, not all of it.
      process.stderr.write(`error: ${(err as Error).message}\n\nusage: npm run saga -- ${command.usage.trimStart()}\n`);
      return ExitCode.usage;
    }
    throw err;
  }
}

// An error no command expected: one line, exit 2 (1 would read as "violations found" from reconcile).
runCommand(main, usage, 2);
