import { createLogger, type Log } from '../../lib/logger';

const noop = () => undefined;
export const quietLogger: Log = { info: noop, warn: noop, error: noop };
export const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

let writeLine = (line: string) => void process.stderr.write(line);

/**
 * The pino logger test/setup-runtime.ts routes the Temporal runtime to, quiet below ERROR. Runtime.install
 * runs once per process, so a test file that wants the lines swaps the destination instead.
 */
export const runtimeLogger = createLogger({ name: 'test', level: 'error', destination: { write: (line) => writeLine(line) } });

/** From now on, the runtime's lines at `level` and above are parsed into the returned array. */
export function captureRuntimeLogs(level = 'info'): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  writeLine = (line) => void lines.push(JSON.parse(line) as Record<string, unknown>);
  runtimeLogger.level = level;
  return lines;
}
