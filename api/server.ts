import { loadConfigOrExit } from '../config';
import { exitOnError, logExits } from '../lib/exit';
import { createLogger, logProcessWarnings, type Logger } from '../lib/logger';
import { redactUrl, secretsOf } from '../lib/redact';
import { startTracing } from '../tracing';
import { runEmbeddedWorker, type RunningWorker } from '../worker/order-worker';
import { buildApp } from './app';

let logger: Logger | undefined;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  // From the first moment, not once the app exists: an embedded worker that cannot start says why the process ended too.
  logger = createLogger({ name: 'api', level: config.LOG_LEVEL, secrets: secretsOf(config) });
  logExits(logger);
  const tracing = await startTracing('api', config);
  let worker: RunningWorker | undefined;
  if (config.INTAKE_LAYOUT === 'worker') {
    worker = await runEmbeddedWorker(config, createLogger({ name: 'api-worker', level: config.LOG_LEVEL, secrets: secretsOf(config) }), 'api', tracing);
  }
  const app = await buildApp(config, { tracing, ...(worker ? { workerConnection: worker.connection } : {}) });
  logProcessWarnings(app.log);
  if (tracing) app.log.info({ endpoint: redactUrl(config.OTEL_EXPORTER_OTLP_ENDPOINT!) }, 'tracing on');
  if (worker)
    app.log.info(
      { identity: worker.worker.options.identity, buildId: worker.buildId },
      'intake layout "worker": sagas start eagerly on this process\'s worker',
    );
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'draining and shutting down');
    await app.close();
    // After the requests: they start sagas through the worker's connection.
    await worker?.shutdown();
    await tracing?.shutdown();
    process.exit(0);
  };
  process.on('SIGINT', () => void close('SIGINT'));
  process.on('SIGTERM', () => void close('SIGTERM'));
  try {
    await app.listen({ host: config.API_HOST, port: config.API_PORT });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new Error(`port ${config.API_PORT} is already in use; set API_PORT to a free port`, { cause: err });
  }
}

main().catch((err: unknown) => exitOnError(logger, err));
