import pino from 'pino';

/** The slice of pino that activities and producers use, so tests can pass any logger. */
export interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export function createLogger({ name, level, destination }: { name: string; level: string; destination?: pino.DestinationStream }): pino.Logger {
  // Temporal's SDK puts errors under `error`; without a serializer an Error is written as {}.
  return pino({ name, level, serializers: { error: pino.stdSerializers.err } }, destination);
}
