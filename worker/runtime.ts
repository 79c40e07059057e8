import type { Logger as SdkLogger, LogLevel, LogMetadata } from '@temporalio/common';
import { makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import type pino from 'pino';

const pinoLevel = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const satisfies Record<LogLevel, pino.Level>;

/**
 * The SDK's Logger over pino: the level maps one to one, the meta (workflowId, activityType, attempt,
 * sdkComponent, …) becomes the line's fields.
 */
export function temporalLogger(logger: pino.Logger): SdkLogger {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => logger[pinoLevel[level]](meta ?? {}, message);
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

/**
 * Sends every log of this process's Temporal runtime to `logger`: workflow and activity `log` calls, the
 * SDK's own lines, and Core's (Rust) lines at `coreLevel` and above. With `metrics`, the runtime also serves
 * Prometheus text at http://host:port/metrics: the SDK's metrics and the app's (worker/metrics.ts,
 * workflows/metrics.ts). Once per process, before any Worker or NativeConnection exists.
 */
export function installRuntimeLogger(
  logger: pino.Logger,
  {
    coreLevel = 'WARN',
    metrics,
    shutdownSignals,
  }: {
    coreLevel?: LogLevel;
    metrics?: { host: string; port: number };
    /** Unset, the SDK's (SIGINT, SIGTERM…): a process that drains other work first passes [] and shuts its worker down itself. */
    shutdownSignals?: NodeJS.Signals[];
  } = {},
): void {
  const bindAddress = metrics && `${metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host}:${metrics.port}`;
  try {
    Runtime.install({
      logger: temporalLogger(logger),
      ...(shutdownSignals ? { shutdownSignals } : {}),
      telemetryOptions: {
        logging: { forward: {}, filter: makeTelemetryFilterString({ core: coreLevel }) },
        // Prometheus conventions: counters end in _total, durations are histograms in seconds named so.
        ...(bindAddress && {
          metrics: { prometheus: { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
        }),
      },
    });
  } catch (err) {
    if (!bindAddress) throw err;
    const cause = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot serve worker metrics on ${bindAddress} (${cause}); set WORKER_METRICS_PORT to a free port, or to 0 for none`, { cause: err });
  }
}
