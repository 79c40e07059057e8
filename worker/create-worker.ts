import path from 'node:path';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';

export const workflowsPath = path.resolve(__dirname, '..', 'workflows', 'index.ts');

/** The worker the fleet runs; tests pass their own connection, task queue and bundle. */
export function createOrderWorker(
  deps: ActivityDeps & {
    connection: NativeConnection;
    namespace?: string;
    taskQueue: string;
    workflowBundle?: WorkerOptions['workflowBundle'];
    activities?: WorkerOptions['activities'];
    /** Slots, pollers, cache, identity, deployment version (worker/settings.ts). */
    settings?: Partial<WorkerOptions>;
  },
): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace ?? 'default',
    taskQueue: deps.taskQueue,
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath }),
    activities: deps.activities ?? createActivities(deps),
    ...deps.settings,
  });
}
