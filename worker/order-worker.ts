import { readFileSync } from 'node:fs';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Config } from '../config';
import { createPool, type Pool } from '../db/pool';
import type { Logger } from '../lib/logger';
import type { Tracing } from '../tracing';
import { createActivities } from '../activities';
import { bundleWorkflows } from './build-bundle';
import { createOrderWorker } from './create-worker';
import { becomeCurrent } from './deployment-bootstrap';
import { injectFaultsAfterCommit } from './fault-injection';
import { installRuntimeLogger, temporalLogger } from './runtime';
import { buildIdOf, deploymentOptions, workerTuning } from './settings';
import { connectWorker } from './temporal-connection';

export interface RunningWorker {
  worker: Worker;
  connection: NativeConnection;
  buildId: string;
  /** Resolves once the worker has drained (after shutdown(), or a signal) and its connection and pool are closed. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/** An order worker as the fleet runs it: its bundle, build ID, deployment, pool and connection, from the config. */
export async function runOrderWorker(config: Config, logger: Logger, tracing?: Tracing): Promise<RunningWorker> {
  const code = config.WORKFLOW_BUNDLE ? readFileSync(config.WORKFLOW_BUNDLE, 'utf8') : await bundleWorkflows(temporalLogger(logger));
  const buildId = config.WORKER_BUILD_ID ?? buildIdOf(code);
  const deployment = deploymentOptions(config, buildId);
  const pool: Pool = createPool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE, queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS });
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
  }).catch(async (err: unknown) => {
    await connection.close();
    await pool.end();
    throw err;
  });
  const running = worker.run();
  if (deployment) {
    const target = { connection, namespace: config.TEMPORAL_NAMESPACE, deploymentName: config.WORKER_DEPLOYMENT_NAME, identity: worker.options.identity };
    void becomeCurrent(target, buildId, logger, () => worker.getState() === 'RUNNING', config.WORKER_DEPLOYMENT_PROMOTE);
  }
  const done = running.finally(async () => {
    await connection.close();
    await pool.end();
  });
  return {
    worker,
    connection,
    buildId,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/**
 * An order worker inside an intake process (INTAKE_LAYOUT=worker), named after it. It drains when its host
 * has stopped taking requests, not on the signal; and it serves no runtime metrics port of its own.
 */
export function runEmbeddedWorker(config: Config, logger: Logger, host: 'api' | 'consumer', tracing?: Tracing): Promise<RunningWorker> {
  installRuntimeLogger(logger, { shutdownSignals: [] });
  return runOrderWorker({ ...config, WORKER_NAME: config.WORKER_NAME ?? host }, logger, tracing);
}
