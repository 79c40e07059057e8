import pino from 'pino';

/** The slice of pino that activities and producers use, so tests can pass any logger. */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export function createLogger({ name, level }: { name: string; level: string }): pino.Logger {
  return pino({ name, level });
}
