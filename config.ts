import { z } from 'zod';
import { redactUrl } from './lib/redact';

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const metricsPort = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

const commaList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).min(1));

/** Every environment variable the service reads, with its default. docs/configuration.md's table mirrors this. */
export const configSchema = z.object({
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: port(3000),
  API_KEY: z.string().min(16, 'API_KEY must be at least 16 characters').optional(),
  API_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(6000),
  API_REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(15_000),
  /** The longest `Prefer: wait=N` a POST /orders is held for its outcome; kept below API_REQUEST_TIMEOUT_MS. */
  API_MAX_WAIT_SECONDS: z.coerce.number().int().min(0).max(60).default(10),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'expected host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('orders'),
  /** Where the CLI's Web UI links point; unset, the host of TEMPORAL_ADDRESS on TEMPORAL_UI_PORT (npm start's UI). */
  TEMPORAL_UI_URL: z.url({ protocol: /^https?$/, error: 'expected an http(s):// URL' }).optional(),
  TEMPORAL_UI_PORT: port(8233),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/orders'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
  DATABASE_QUERY_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  KAFKA_BROKERS: commaList.default(['127.0.0.1:9092']),
  KAFKA_CLIENT_ID: z.string().default('saga-orchestrator'),
  KAFKA_CONSUMER_GROUP: z.string().default('saga-orchestrator-intake'),
  /** Of the topics the stack creates: 3 on a replicated cluster (min.insync.replicas then 2), 1 on the single embedded broker. */
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).default(1),
  /** Sagas started and not yet decided at which intake answers 503 and the consumer pauses; 0 turns the limit off. */
  INTAKE_BACKLOG_LIMIT: z.coerce.number().int().min(0).default(200),
  /**
   * `worker`: this intake process (the API) also runs an order worker sharing its Temporal connection, and starts
   * sagas eagerly on it, so a saga's first task needs no poll. `separate` (default): workers run on their own.
   */
  INTAKE_LAYOUT: z.enum(['separate', 'worker']).default('separate'),
  INTAKE_BACKLOG_CHECK_MS: z.coerce.number().int().min(100).max(60_000).default(1_000),
  /** How often the API starts stored refunds whose start never came back (a 503, a crash). */
  REFUND_RESTART_EVERY_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  REWARD_BASIS_POINTS: z.coerce.number().int().min(0).max(10_000).default(100),
  /** Chaos runs only: the share of committing activity attempts that fail after their commit (worker/fault-injection.ts). */
  SAGA_FAULT_AFTER_COMMIT_RATE: z.coerce.number().min(0).max(1).default(0),
  /** A prebuilt workflow bundle (npm run build:workflows) for the worker to load; unset, it bundles the code at start. */
  WORKFLOW_BUNDLE: z.string().optional(),
  /** Worker tuning (worker/settings.ts); docs/operations.md's fleet section gives the measurements behind the defaults. */
  WORKER_WORKFLOW_TASK_SLOTS: z.coerce.number().int().min(2).max(1_000).default(40),
  WORKER_ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(1_000).default(100),
  WORKER_LOCAL_ACTIVITY_SLOTS: z.coerce.number().int().min(1).max(1_000).default(100),
  WORKER_WORKFLOW_POLLERS: z.coerce.number().int().min(2).max(100).default(10),
  WORKER_ACTIVITY_POLLERS: z.coerce.number().int().min(1).max(100).default(10),
  /** At least 2: with the cache off (0) the SDK loses track of the saga's local activities and sagas stall. */
  WORKER_STICKY_CACHE_SIZE: z.coerce.number().int().min(2).max(100_000).default(2_000),
  WORKER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
  /** Appended to the worker's identity (`pid@host/<name>`); `npm start` sets worker, worker-2, … */
  WORKER_NAME: z
    .string()
    .regex(/^[\w.-]{1,64}$/, 'letters, digits, _ . - only, at most 64')
    .optional(),
  /** Worker Versioning: `pinned` sagas finish on the build that started them; `off` runs unversioned (patched() only). */
  WORKER_VERSIONING: z.enum(['pinned', 'auto-upgrade', 'off']).default('off'),
  /**
   * `first`: only the deployment's first build makes itself current; later ones wait for `deploy`.
   * `when-current-idle` (what `npm start` sets): a new build also takes over a current build with no open sagas.
   */
  WORKER_DEPLOYMENT_PROMOTE: z.enum(['first', 'when-current-idle']).default('first'),
  WORKER_DEPLOYMENT_NAME: z
    .string()
    .regex(/^[\w.-]{1,100}$/, 'letters, digits, _ . - only')
    .default('saga-orchestrator'),
  /** Unset: `b-` and 12 hex digits of the SHA-256 of the workflow bundle the worker runs. */
  WORKER_BUILD_ID: z
    .string()
    .regex(/^[\w.-]{1,100}$/, 'letters, digits, _ . - only')
    .optional(),
  /** Where the worker and the consumer serve Prometheus metrics (the API serves them on its own port). */
  METRICS_HOST: z.string().default('127.0.0.1'),
  /** A worker's metrics port; `npm start` gives worker-<n> this port + n - 1. 0 serves none. */
  WORKER_METRICS_PORT: metricsPort(9464),
  /** 0 serves none. */
  CONSUMER_METRICS_PORT: metricsPort(9463),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** An OTLP/HTTP collector (spans go to <url>/v1/traces); unset, tracing is off and none of it is loaded (tracing/). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'expected an http(s):// URL' }).optional(),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** The value an error message may repeat: never the API key, and URLs without their password. */
const shown = (name: string, value: string) => (name === 'API_KEY' ? '<hidden>' : JSON.stringify(redactUrl(value)));

/** Parses once; a bad variable becomes one line naming it, what is wrong, and how to fix it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    throw new ConfigError(`invalid ${name}=${shown(name, env[name] ?? '')}: ${issue.message}; fix it or unset ${name} to use the default`);
  }
  return parsed.data;
}

/** For entry points: print the one-line cause and exit instead of a stack trace. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
