import type { Client } from '@temporalio/client';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfigOrExit, type Config } from '../config';
import { idSchema } from '../contract/order';
import { isDatabaseUnavailable } from '../db/errors';
import { sanitizeText } from '../domain/text';
import { createPool, type Pool } from '../db/pool';
import { TemporalUnavailableError } from '../intake/start-order';
import { UsageError } from '../lib/cli';
import { createTemporalClient } from '../lib/temporal-client';
import { isTemporalUnavailable } from '../lib/temporal-errors';

/** What every `npm run saga` command's exit code means. */
export const ExitCode = {
  ok: 0,
  /** The answer is no: an unknown order, a refused decision, invariants violated, records left unreplayed. */
  no: 1,
  usage: 2,
  /** PostgreSQL, Temporal or Kafka could not be reached or did not answer in time: nothing was decided; retry. */
  unavailable: 3,
} as const;

/** Ends a command with one line on stderr (and `{ error, message, details }` on stdout under --json) and an exit code. */
export class CommandFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = ExitCode.no,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export interface Servers {
  config: Config;
  db: () => Pool;
  /** Connected, or a failure naming the address within the client's 3 s connect timeout. */
  temporal: () => Promise<Client>;
  kafka: () => Kafka;
}

/** host:port/database of a postgres:// URL: never its credentials. */
export function databaseAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

/**
 * Runs `work` with connections opened on first use and closed after, each bounded so an unreachable
 * server fails within seconds. An unreachable server becomes a CommandFailure naming its address (exit 3).
 */
export async function withServers(work: (servers: Servers) => Promise<number>, options: { queryTimeoutMs?: number } = {}): Promise<number> {
  const config = loadConfigOrExit();
  let pool: Pool | undefined;
  let temporal: ReturnType<typeof createTemporalClient> | undefined;
  const servers: Servers = {
    config,
    db: () =>
      (pool ??= createPool({ connectionString: config.DATABASE_URL, max: 2, connectTimeoutMs: 3_000, queryTimeoutMs: options.queryTimeoutMs ?? 10_000 })),
    temporal: async () => {
      temporal ??= createTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
      // Without this, each call would retry UNAVAILABLE until its own deadline: a down server took 16 s to report.
      await temporal.connection.ensureConnected().catch((err: unknown) => {
        throw new CommandFailure(
          'TemporalUnavailable',
          `cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS): ${oneLine(err)}`,
          ExitCode.unavailable,
        );
      });
      return temporal.client;
    },
    kafka: () =>
      new Kafka({
        brokers: config.KAFKA_BROKERS,
        clientId: `${config.KAFKA_CLIENT_ID}-cli`,
        logLevel: logLevel.NOTHING,
        connectionTimeout: 3_000,
        retry: { retries: 2, initialRetryTime: 200 },
      }),
  };
  try {
    return await work(servers);
  } catch (err) {
    throw unreachable(err, config) ?? err;
  } finally {
    await pool?.end().catch(() => undefined);
    await temporal?.close().catch(() => undefined);
  }
}

const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 300);

/** Which server an error says is down; PostgreSQL first, since a refused pg connection also reads as ECONNREFUSED. */
export function unreachable(err: unknown, config: Config): CommandFailure | undefined {
  if (err instanceof CommandFailure) return undefined;
  if (err instanceof TemporalUnavailableError) {
    return new CommandFailure('TemporalUnavailable', `Temporal at ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS): ${err.message}`, ExitCode.unavailable);
  }
  if (err instanceof Error && err.name.startsWith('KafkaJS') && /Connection|NumberOfRetriesExceeded|Timeout|BrokerNotFound/.test(err.name)) {
    return new CommandFailure(
      'KafkaUnavailable',
      `cannot reach Kafka at ${config.KAFKA_BROKERS.join(',')} (KAFKA_BROKERS): ${oneLine(err)}`,
      ExitCode.unavailable,
    );
  }
  if (isDatabaseUnavailable(err)) {
    return new CommandFailure(
      'DatabaseUnavailable',
      `cannot reach PostgreSQL at ${databaseAddress(config.DATABASE_URL)} (DATABASE_URL): ${oneLine(err)}`,
      ExitCode.unavailable,
    );
  }
  if (isTemporalUnavailable(err)) {
    return new CommandFailure(
      'TemporalUnavailable',
      `cannot reach Temporal at ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS), or it did not answer in time`,
      ExitCode.unavailable,
    );
  }
  return undefined;
}

let printed = false;

/** Human text on a terminal, or the JSON document for scripts. */
export function print(json: boolean, human: () => string, data: unknown): void {
  printed = true;
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${human()}\n`);
}

/** Ends a command that failed: one line on stderr, and under --json the error document, unless the command printed its own. */
export function reportFailure(failure: CommandFailure, json: boolean): number {
  process.stderr.write(`error: ${failure.message}\n`);
  if (json && !printed)
    process.stdout.write(`${JSON.stringify({ error: failure.code, message: failure.message, details: failure.details ?? null }, null, 2)}\n`);
  return failure.exitCode;
}

/** Fixed-width columns; the last one is not padded. Control characters in a cell (stored before they were refused) print as U+FFFD. */
export function table(header: string[], given: string[][]): string {
  const rows = given.map((r) => r.map((cell) => sanitizeText(cell, Number.MAX_SAFE_INTEGER)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The one positional an order command takes, checked against the contract's ID rules before any connection. */
export function orderIdArgument(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new UsageError(`${command} takes one order ID, got ${positionals.length}`);
  const parsed = idSchema.safeParse(positionals[0]);
  if (!parsed.success) throw new UsageError(`order ID ${JSON.stringify(positionals[0])}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}
