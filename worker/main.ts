import { readFileSync } from 'node:fs';
import { loadConfigOrExit } from '../config';
import { createPool } from '../db/pool';
import { exitOnError, logExits } from '../lib/exit';
import { createLogger, logProcessWarnings, type Logger } from '../lib/logger';
import { redactUrl, secretsOf } from '../lib/redact';
import { startTracing } from '../tracing';
import { createActivities } from '../activities';
import { bundleWorkflows } from './build-bundle';
import { createOrderWorker } from './create-worker';
import { becomeCurrent } from './deployment-bootstrap';
import { injectFaultsAfterCommit } from './fault-injection';
import { countConflicts } from './metrics';
import { installRuntimeLogger, temporalLogger } from './runtime';
import { buildIdOf, deploymentOptions, workerTuning } from './settings';
import { connectWorker } from './temporal-connection';

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
  const code = config.WORKFLOW_BUNDLE ? readFileSync(config.WORKFLOW_BUNDLE, 'utf8') : await bundleWorkflows(temporalLogger(logger));
  const buildId = config.WORKER_BUILD_ID ?? buildIdOf(code);
  const deployment = deploymentOptions(config, buildId);
  const pool = createPool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE, queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS });
  tracing?.tracePool(pool);
  const connection = await connectWorker(config);
  const worker = await createOrderWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    pool,
    rewardBasisPoints: config.REWARD_BASIS_POINTS,
    workflowBundle: { code },
    settings: { ...workerTuning(config), workerDeploymentOptions: deployment, ...tracing?.workerOptions },
    activities: injectFaultsAfterCommit(createActivities({ pool, rewardBasisPoints: config.REWARD_BASIS_POINTS }), config.SAGA_FAULT_AFTER_COMMIT_RATE),
  });
  logger.info(
    {
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      address: config.TEMPORAL_ADDRESS,
      identity: worker.options.identity,
      workflowBundle: config.WORKFLOW_BUNDLE ?? 'bundled at start',
      buildId,
      versioning: deployment ? `${config.WORKER_VERSIONING} in deployment ${config.WORKER_DEPLOYMENT_NAME}` : 'off',
      metrics: metrics ? `http://${metrics.host}:${metrics.port}/metrics` : 'off',
      tracing: tracing ? redactUrl(config.OTEL_EXPORTER_OTLP_ENDPOINT!) : 'off',
    },
    'worker polling',
  );
  const running = worker.run();
  if (deployment) {
    const target = { connection, namespace: config.TEMPORAL_NAMESPACE, deploymentName: config.WORKER_DEPLOYMENT_NAME, identity: worker.options.identity };
    void becomeCurrent(target, buildId, logger, () => worker.getState() === 'RUNNING', config.WORKER_DEPLOYMENT_PROMOTE);
  }
  // The SDK installs SIGINT/SIGTERM handlers that drain in-flight tasks before run() resolves.
  await running;
  await connection.close();
  await pool.end();
  await tracing?.shutdown();
}

main().catch((err: unknown) => exitOnError(logger, err));
