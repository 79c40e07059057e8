import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfigOrExit } from '../config';
import { createPool } from '../db/pool';
import { Admission, countBacklog } from '../intake/admission';
import { startOrder } from '../intake/start-order';
import { startRefund } from '../intake/start-refund';
import { exitOnError, explainExit, logExits } from '../lib/exit';
import { createLogger, logProcessWarnings, type Log, type Logger } from '../lib/logger';
import { redactUrl, secretsOf } from '../lib/redact';
import { serveMetrics, type MetricsServer } from '../lib/metrics-server';
import { createTemporalClient } from '../lib/temporal-client';
import { createKafka, Topics } from '../messaging/topics';
import { OutboxRelay } from '../relay/outbox-relay';
import { startTracing } from '../tracing';
import { runEmbeddedWorker } from '../worker/order-worker';
import { OrderIntake } from './intake';
import { tracedStart } from './traced-start';
import { createConsumerMetrics } from './metrics';

/** The Kafka side of the service: order commands in, order events out (outbox relay). */
let processLogger: Logger | undefined;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ name: 'consumer', level: config.LOG_LEVEL, secrets: secretsOf(config) });
  processLogger = logger;
  logExits(logger);
  logProcessWarnings(logger);
  const tracing = await startTracing('consumer', config);
  if (tracing) logger.info({ endpoint: redactUrl(config.OTEL_EXPORTER_OTLP_ENDPOINT!) }, 'tracing on');
  const pool = createPool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE, queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS });
  tracing?.tracePool(pool);
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID });
  // INTAKE_LAYOUT=worker: an order worker in this process, whose connection the client shares, so starts run eagerly on it.
  const worker = config.INTAKE_LAYOUT === 'worker' ? await runEmbeddedWorker(config, logger.child({ component: 'worker' }), 'consumer', tracing) : undefined;
  const { client, close: closeTemporal } = createTemporalClient({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    interceptors: tracing?.clientInterceptors,
    workerConnection: worker?.connection,
  });
  const eager = { eager: Boolean(worker) };
  const admission = new Admission(countBacklog(client, config.TEMPORAL_TASK_QUEUE), config.INTAKE_BACKLOG_LIMIT, config.INTAKE_BACKLOG_CHECK_MS);
  const metrics = createConsumerMetrics({
    kafka,
    pool,
    groupId: config.KAFKA_CONSUMER_GROUP,
    topic: Topics.commands,
    logger,
    backlog: () => admission.backlog,
  });
  // First, so a taken metrics port ends the start before anything connects.
  let metricsServer: MetricsServer | undefined;
  if (config.CONSUMER_METRICS_PORT > 0) {
    metricsServer = await serveMetrics(metrics.registry, { host: config.METRICS_HOST, port: config.CONSUMER_METRICS_PORT, variable: 'CONSUMER_METRICS_PORT' });
  }
  admission.start();
  const intake = new OrderIntake({
    kafka,
    pool,
    groupId: config.KAFKA_CONSUMER_GROUP,
    logger,
    events: metrics.events,
    start: metrics.countStarts(
      tracedStart(tracing, (request) => startOrder({ client, pool, taskQueue: config.TEMPORAL_TASK_QUEUE, admission, ...eager }, request, 'kafka')),
    ),
    startRefund: (request) => startRefund({ client, pool, taskQueue: config.TEMPORAL_TASK_QUEUE, ...eager }, request),
    // Not a broker or database fault (kafkajs restarts after those): exit so that it is seen, not a silent idle consumer.
    onFatalCrash: () => void shutdown('fatal consumer crash', 1),
  });
  const relay = new OutboxRelay({ pool, kafka, logger, onPublished: metrics.published });

  let stopping = false;
  const shutdown = async (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    explainExit(reason);
    logger.info({ reason }, 'draining: finishing the batch in flight, committing, disconnecting');
    await settle(logger, 'intake stop', intake.stop());
    admission.stop();
    await settle(logger, 'relay stop', relay.stop());
    await settle(logger, 'metrics close', Promise.all([metricsServer?.close(), metrics.close()]));
    await settle(logger, 'Temporal connection close', closeTemporal());
    // After the intake: its last starts go through the worker's connection.
    await settle(logger, 'worker drain', worker?.shutdown() ?? Promise.resolve());
    await settle(logger, 'pool end', pool.end());
    await settle(logger, 'tracing flush', tracing?.shutdown() ?? Promise.resolve());
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  relay.start();
  await startUntilConnected(
    logger,
    () => intake.start(),
    () => stopping,
  );
  logger.info({ topic: intake.topic, group: config.KAFKA_CONSUMER_GROUP, metrics: metricsServer?.url ?? 'off' }, 'consumer and outbox relay running');
}

/** An order worker in the consumer (INTAKE_LAYOUT=worker); it drains once the intake has stopped, not on the signal. */
/** A broker that is down or restarting at start-up is waited for, not a reason to exit. */
async function startUntilConnected(logger: Log, start: () => Promise<void>, stopping: () => boolean): Promise<void> {
  for (let delay = 1_000; !stopping(); delay = Math.min(delay * 2, 30_000)) {
    try {
      return await start();
    } catch (err) {
      logger.warn({ err, retryInMs: delay }, 'Kafka intake could not start; retrying');
      await sleep(delay);
    }
  }
}

/** Shutdown goes on past a step that fails (a broker or database already gone). */
async function settle(logger: Log, step: string, done: Promise<unknown>): Promise<void> {
  await done.catch((err: unknown) => logger.warn({ err, step }, 'shutdown step failed'));
}

main().catch((err: unknown) => exitOnError(processLogger, err));
