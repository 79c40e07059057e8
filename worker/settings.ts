import { createHash } from 'node:crypto';
import os from 'node:os';
import type { WorkerOptions } from '@temporalio/worker';
import type { Config } from '../config';

type Tuning = Pick<
  Config,
  | 'WORKER_WORKFLOW_TASK_SLOTS'
  | 'WORKER_ACTIVITY_SLOTS'
  | 'WORKER_LOCAL_ACTIVITY_SLOTS'
  | 'WORKER_WORKFLOW_POLLERS'
  | 'WORKER_ACTIVITY_POLLERS'
  | 'WORKER_STICKY_CACHE_SIZE'
  | 'WORKER_SHUTDOWN_GRACE_MS'
  | 'WORKER_NAME'
>;

/** `pid@host/name`: the PID first, as Temporal's default identity has it (the stack matches pollers on it). */
export function workerIdentity(name?: string): string {
  return `${process.pid}@${os.hostname()}${name ? `/${name}` : ''}`;
}

export function workerTuning(config: Tuning): Partial<WorkerOptions> {
  return {
    identity: workerIdentity(config.WORKER_NAME),
    maxConcurrentWorkflowTaskExecutions: config.WORKER_WORKFLOW_TASK_SLOTS,
    maxConcurrentActivityTaskExecutions: config.WORKER_ACTIVITY_SLOTS,
    maxConcurrentLocalActivityExecutions: config.WORKER_LOCAL_ACTIVITY_SLOTS,
    workflowTaskPollerBehavior: { type: 'simple-maximum', maximum: Math.min(config.WORKER_WORKFLOW_POLLERS, config.WORKER_WORKFLOW_TASK_SLOTS) },
    activityTaskPollerBehavior: { type: 'simple-maximum', maximum: Math.min(config.WORKER_ACTIVITY_POLLERS, config.WORKER_ACTIVITY_SLOTS) },
    maxCachedWorkflows: config.WORKER_STICKY_CACHE_SIZE,
    shutdownGraceTime: config.WORKER_SHUTDOWN_GRACE_MS,
  };
}

/** The build ID a bundle gets when WORKER_BUILD_ID is unset: the same code gives the same ID on every host. */
export function buildIdOf(bundleCode: string): string {
  return `b-${createHash('sha256').update(bundleCode).digest('hex').slice(0, 12)}`;
}

export function deploymentOptions(
  config: Pick<Config, 'WORKER_VERSIONING' | 'WORKER_DEPLOYMENT_NAME'>,
  buildId: string,
): WorkerOptions['workerDeploymentOptions'] {
  if (config.WORKER_VERSIONING === 'off') return undefined;
  return {
    useWorkerVersioning: true,
    version: { deploymentName: config.WORKER_DEPLOYMENT_NAME, buildId },
    defaultVersioningBehavior: config.WORKER_VERSIONING === 'pinned' ? 'PINNED' : 'AUTO_UPGRADE',
  };
}
