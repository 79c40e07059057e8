import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { repoRoot, spawnManaged, waitForServer, type ManagedProcess } from './servers';

/** What every app process gets: the stack's environment (server addresses included) and the log folder. */
export interface AppOptions {
  env: NodeJS.ProcessEnv;
  logDir: string;
}

function spawnApp(name: string, entry: string, options: AppOptions): ManagedProcess {
  return spawnManaged({
    name,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(repoRoot, entry)],
    env: options.env,
    logFile: path.join(options.logDir, `${name}.log`),
  });
}

export async function startApi(options: AppOptions & { port: number }): Promise<ManagedProcess> {
  const proc = spawnApp('api', 'api/server.ts', options);
  const healthz = `http://127.0.0.1:${options.port}/healthz`;
  await waitForServer(proc, `API on :${options.port}`, async () => (await fetch(healthz)).ok, 60_000);
  return proc;
}

/** The consumer has no readiness probe: it is up once spawned, and reconnects to Kafka by itself. */
export function startConsumer(options: AppOptions): Promise<ManagedProcess> {
  return Promise.resolve(spawnApp('consumer', 'consumer/main.ts', options));
}

interface WorkerOptions extends AppOptions {
  /** `worker`, or `worker-<n>` in a fleet: the process name in restarts and the log file's name. */
  name: string;
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
}

/**
 * Resolves once this very process polls the task queue (it bundles the workflow code first). A worker's
 * identity starts with its PID; matching on it ignores the pollers a killed worker leaves listed for a while.
 */
export async function startWorker(options: WorkerOptions): Promise<ManagedProcess> {
  const proc = spawnApp(options.name, 'worker/main.ts', { ...options, env: { ...options.env, WORKER_NAME: options.name } });
  const connection = Connection.lazy({ address: options.temporalAddress });
  const polls = async () => {
    const { pollers } = await connection.withDeadline(Date.now() + 2_000, () =>
      connection.workflowService.describeTaskQueue({
        namespace: options.namespace,
        taskQueue: { name: options.taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
    return (pollers ?? []).some((poller) => poller.identity?.startsWith(`${proc.child.pid}@`));
  };
  try {
    await waitForServer(proc, `a worker polling task queue ${options.taskQueue}`, polls, 120_000);
  } finally {
    await connection.close();
  }
  return proc;
}
