/** A bad flag or argument: the command prints its usage and exits 2. */
export class UsageError extends Error {}

/**
 * Runs a command's main and exits with its code; 2 with the usage on a bad flag; `errorCode` (1 unless
 * the command's 1 means something else) with one line on any other error.
 */
export function runCommand(main: (argv: string[]) => Promise<number>, usage: string, errorCode = 1): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      const usageProblem = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}${usageProblem ? `\n\n${usage}` : ''}\n`);
      process.exit(usageProblem ? 2 : errorCode);
    },
  );
}
