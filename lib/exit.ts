import pino from 'pino';

type ExitLogger = Pick<pino.Logger, 'fatal' | 'info'>;

/**
 * Every way this process can end leaves a last line saying why: an error that escapes (with its stack),
 * a signal, or the exit code. Only SIGKILL leaves none; the stack's supervisor writes that line instead.
 */
export function logExits(logger: ExitLogger): void {
  // A logger built elsewhere (lib/logger.ts writes synchronously already) must not leave a write in flight at exit.
  writeSynchronously(logger);
  const die = (what: string) => (err: unknown) => exitOnError(logger, err, what);
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled rejection'));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      reason ??= `received ${signal}`;
      logger.info({ signal }, `received ${signal}: shutting down`);
    });
  }
  // `reason` is what a supervisor reads from this line (tools/stack/servers.ts lastWords).
  process.once('exit', (code) => writeLastLine(logger, code, reason ?? 'its work ended'));
}

type Destination = { sync?: boolean; write?: (line: string) => unknown; flushSync?: () => void };

/**
 * The exit line is the last line of the log: written and flushed synchronously, after which the destination
 * takes no more lines (an `exit` listener that runs after this one logs nothing).
 */
export function writeLastLine(logger: ExitLogger, code: number, why: string): void {
  const stream = writeSynchronously(logger);
  logger[code === 0 ? 'info' : 'fatal']({ code, reason: why }, `exited with code ${code}`);
  try {
    stream?.flushSync?.();
  } catch {
    // A destination that cannot flush now loses this last line only.
  }
  if (stream) stream.write = () => true;
}

/**
 * pino's stdout is asynchronous unless told otherwise: a line's write runs later on libuv's thread pool, and one
 * the pool has not run when the process exits lands after the lines written synchronously at exit, or never.
 * Writes from here on are synchronous. A write the pool already holds is out of reach (flushSync skips it): only
 * a destination synchronous from its first line, as lib/logger.ts makes it, has none.
 */
function writeSynchronously(logger: ExitLogger): Destination | undefined {
  const stream = (logger as Partial<Record<symbol, Destination>>)[pino.symbols.streamSym];
  if (stream && typeof stream.sync === 'boolean') stream.sync = true;
  return stream;
}

/** Why this process is ending, once known: the first fatal error or signal. */
let reason: string | undefined;

/** For an exit this process decides on itself (a shutdown with a code of its own). */
export function explainExit(why: string): void {
  reason ??= why;
}

/**
 * A start or run that failed: one `error:` line on stderr for whoever runs the command, and the error with
 * its stack in the process's log.
 */
export function exitOnError(logger: ExitLogger | undefined, err: unknown, what?: string): never {
  const message = what ? `${what}: ${messageOf(err)}` : messageOf(err);
  reason ??= message;
  process.stderr.write(`error: ${message}\n`);
  if (logger) writeSynchronously(logger);
  logger?.fatal({ err }, `exiting: ${message}`);
  process.exit(1);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
