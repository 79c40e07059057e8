import pino from 'pino';

type ExitLogger = Pick<pino.Logger, 'fatal' | 'info'>;

/**
 * Every way this process can end leaves a last line saying why: an error that escapes (with its stack),
 * a signal, or the exit code. Only SIGKILL leaves none; the stack's supervisor writes that line instead.
 */
export function logExits(logger: ExitLogger): void {
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

type Destination = { sync?: boolean; flushSync?: () => void };

/**
 * pino's stdout is asynchronous: a line logged in an `exit` listener starts a write on libuv's thread pool,
 * which the exiting process may never run, and flushSync skips a write already started. So the
 * destination turns synchronous first (nothing async can finish after `exit` anyway).
 */
export function writeLastLine(logger: ExitLogger, code: number, why: string): void {
  const stream = writeSynchronously(logger);
  logger[code === 0 ? 'info' : 'fatal']({ code, reason: why }, `exited with code ${code}`);
  try {
    stream?.flushSync?.();
  } catch {
    // A destination that cannot flush now loses this last line only.
  }
}

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
  // Synchronous from here: an asynchronous write of this line, still on the thread pool at exit, could land
  // after the exit line (seen in CI), and the exit line must be the last.
  if (logger) writeSynchronously(logger);
  logger?.fatal({ err }, `exiting: ${message}`);
  process.exit(1);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
