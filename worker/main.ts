import { loadConfigOrExit } from '../config';
import { exitOnError, logExits } from '../lib/exit';
import { createLogger, logProcessWarnings, type Logger } from '../lib/logger';
import { redactUrl, secretsOf } from '../lib/redact';
import { startTracing } from '../tracing';
import { countConflicts } from './metrics';
import { runOrderWorker } from './order-worker';
import { installRuntimeLogger } from './runtime';

let logger: Logger | undefined;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  logger = createLogger({ name: 'worker', level: config.LOG_LEVEL, secrets: secretsOf(config) });
  logExits(logger);
  logProcessWarnings(logger);
  const tracing = await startTracing('worker', config);
  const metrics = config.WORKER_METRICS_PORT > 0 ? { host: config.METRICS_HOST, port: config.WORKER_METRICS_PORT } : undefined;
  installRuntimeLogger(logger, { metrics });
  countConflicts();
  const { worker, buildId, done } = await runOrderWorker(config, logger, tracing);
  logger.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      address: config.TEMPORAL_ADDRESS,
      identity: worker.options.identity,
      workflowBundle: config.WORKFLOW_BUNDLE ?? 'bundled at start',
      buildId,
      versioning: config.WORKER_VERSIONING === 'off' ? 'off' : `${config.WORKER_VERSIONING} in deployment ${config.WORKER_DEPLOYMENT_NAME}`,
      metrics: metrics ? `http://${metrics.host}:${metrics.port}/metrics` : 'off',
      tracing: tracing ? redactUrl(config.OTEL_EXPORTER_OTLP_ENDPOINT!) : 'off',
    },
    'worker polling',
  );
  // The SDK installs SIGINT/SIGTERM handlers that drain in-flight tasks before run() resolves.
  await done;
  await tracing?.shutdown();
}

main().catch((err: unknown) => exitOnError(logger, err));
