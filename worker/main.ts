import { loadConfigOrExit } from '../config';
import { createPool } from '../db/pool';
import { createLogger } from '../lib/logger';
import { createActivities } from '../activities';
import { createOrderWorker } from './create-worker';
import { injectFaultsAfterCommit } from './fault-injection';
import { installRuntimeLogger } from './runtime';
import { connectWorker } from './temporal-connection';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ name: 'worker', level: config.LOG_LEVEL });
  installRuntimeLogger(logger);
  const pool = createPool({ connectionString: config.DATABASE_URL, max: config.DATABASE_POOL_SIZE, queryTimeoutMs: config.DATABASE_QUERY_TIMEOUT_MS });
  const connection = await connectWorker(config);
  const worker = await createOrderWorker({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    pool,
    rewardBasisPoints: config.REWARD_BASIS_POINTS,
    ...(config.WORKFLOW_BUNDLE ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE } } : {}),
    activities: injectFaultsAfterCommit(createActivities({ pool, rewardBasisPoints: config.REWARD_BASIS_POINTS }), config.SAGA_FAULT_AFTER_COMMIT_RATE),
  });
  logger.info(
    { taskQueue: config.TEMPORAL_TASK_QUEUE, address: config.TEMPORAL_ADDRESS, workflowBundle: config.WORKFLOW_BUNDLE ?? 'bundled at start' },
    'worker polling',
  );
  // The SDK installs SIGINT/SIGTERM handlers that drain in-flight tasks before run() resolves.
  await worker.run();
  await connection.close();
  await pool.end();
}

main().catch((err: unknown) => {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
