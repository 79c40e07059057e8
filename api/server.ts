import { loadConfigOrExit } from '../config';
import { exitOnError, logExits } from '../lib/exit';
import { logProcessWarnings, type Logger } from '../lib/logger';
import { redactUrl } from '../lib/redact';
import { startTracing } from '../tracing';
import { buildApp } from './app';

let logger: Logger | undefined;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const tracing = await startTracing('api', config);
  const app = await buildApp(config, { tracing });
  logger = app.log as Logger;
  logExits(logger);
  logProcessWarnings(app.log);
  if (tracing) app.log.info({ endpoint: redactUrl(config.OTEL_EXPORTER_OTLP_ENDPOINT!) }, 'tracing on');
  let closing = false;
  const close = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'draining and shutting down');
    await app.close();
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
