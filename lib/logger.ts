import pino from 'pino';

/** The slice of pino that activities and producers use, so tests can pass any logger. */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Credentials a request or an error may carry, wherever a line nests them. */
const redactPaths = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'password',
  '*.password',
  'connectionString',
  '*.connectionString',
];

/** Shorter secrets are not scrubbed from text: replacing two letters everywhere would garble every line. */
const MIN_SCRUBBED_LENGTH = 6;

/**
 * Where every process logger writes: stdout, each line written when it is logged. pino's default writes on
 * libuv's thread pool, and a write the pool has not run when the process exits lands after its exit line, or
 * never (lib/exit.ts): the last line read would not be why the process ended. One stream for the whole
 * process, so that the exit line closes it for every logger (the API's and its embedded worker's alike).
 */
let stdout: pino.DestinationStream | undefined;

function processStdout(): pino.DestinationStream {
  return (stdout ??= pino.destination({ dest: 1, sync: true }));
}

/**
 * pino options every process uses (the API hands them to Fastify): JSON lines named after the process,
 * written synchronously to stdout, credentials redacted by path, and each secret in `secrets` (secretsOf in
 * lib/redact.ts) replaced in the finished line, wherever an error message or a field might have carried it.
 */
export function loggerOptions({
  name,
  level,
  secrets = [],
}: {
  name: string;
  level: string;
  secrets?: string[];
}): pino.LoggerOptions & { stream: pino.DestinationStream } {
  const hidden = secrets.filter((s) => s.length >= MIN_SCRUBBED_LENGTH).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
  return {
    name,
    level,
    // Temporal's SDK puts errors under `error`; without a serializer an Error is written as {}.
    serializers: { error: pino.stdSerializers.err },
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...(hidden.length ? { hooks: { streamWrite: (line: string) => hidden.reduce((text, secret) => text.replaceAll(secret, '[redacted]'), line) } } : {}),
    stream: processStdout(),
  };
}

export function createLogger({
  name,
  level,
  secrets,
  destination,
}: {
  name: string;
  level: string;
  secrets?: string[];
  destination?: pino.DestinationStream;
}): pino.Logger {
  const { stream, ...options } = loggerOptions({ name, level, secrets });
  return pino(options, destination ?? stream);
}

/**
 * Node's process warnings (deprecations, kafkajs's negative timeout under Node 24, …) as log lines of
 * this process instead of plain text on stderr, so every line a process writes stays JSON.
 */
export function logProcessWarnings(logger: Pick<pino.Logger, 'warn'>): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logger.warn({ warning: { name: warning.name, message: warning.message } }, 'process warning'));
}

export type Logger = pino.Logger;
