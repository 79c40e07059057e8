import path from 'node:path';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { workflowInterceptorModules } from '../tracing';

export const workflowsPath = path.resolve(__dirname, '..', 'workflows', 'index.ts');

/** Where a traced workflow's spans go when this worker does not trace: nowhere, instead of an error per call. */
const untracedSinks: WorkerOptions['sinks'] = { exporter: { export: { fn: () => undefined } } };

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
  const { interceptors, ...settings } = deps.settings ?? {};
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace ?? 'default',
    taskQueue: deps.taskQueue,
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath }),
    // A prebuilt bundle has the workflow interceptors in it already (worker/build-bundle.ts).
    interceptors: { ...interceptors, ...(deps.workflowBundle ? {} : { workflowModules: workflowInterceptorModules }) },
    activities: deps.activities ?? createActivities(deps),
    sinks: untracedSinks,
    ...settings,
  });
}
