import { temporal } from '@temporalio/proto';

const { WorkerDeploymentVersionStatus: Status, VersionDrainageStatus: Drainage } = temporal.api.enums.v1;

export interface DeploymentTarget {
  /** A client Connection or the worker's NativeConnection. */
  connection: { workflowService: temporal.api.workflowservice.v1.WorkflowService };
  namespace: string;
  deploymentName: string;
  identity?: string;
}

export type VersionStatus = 'INACTIVE' | 'CURRENT' | 'RAMPING' | 'DRAINING' | 'DRAINED' | 'UNKNOWN';

export interface VersionView {
  buildId: string;
  status: VersionStatus;
  /** The server refreshes drainage only every few minutes: DRAINING may lag behind the last pinned saga closing. */
  drainage: 'DRAINING' | 'DRAINED' | 'UNKNOWN';
  createdAt?: Date;
  /** When it last stopped being current: the newest one is what a rollback returns to. */
  lastCurrentAt?: Date;
}

export interface DeploymentView {
  deploymentName: string;
  /** undefined: new sagas go to unversioned workers. */
  currentBuildId?: string;
  rampingBuildId?: string;
  rampingPercentage: number;
  versions: VersionView[];
}

const statusNames: Record<number, VersionStatus> = {
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_INACTIVE]: 'INACTIVE',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_CURRENT]: 'CURRENT',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_RAMPING]: 'RAMPING',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINING]: 'DRAINING',
  [Status.WORKER_DEPLOYMENT_VERSION_STATUS_DRAINED]: 'DRAINED',
};
const drainageNames: Record<number, VersionView['drainage']> = {
  [Drainage.VERSION_DRAINAGE_STATUS_DRAINING]: 'DRAINING',
  [Drainage.VERSION_DRAINAGE_STATUS_DRAINED]: 'DRAINED',
};

const toDate = (t?: { seconds?: unknown } | null) => (t?.seconds == null ? undefined : new Date(Number(t.seconds) * 1000));

/** undefined when no worker of this deployment has ever polled. */
export async function describeDeployment(target: DeploymentTarget): Promise<DeploymentView | undefined> {
  let info;
  try {
    ({ workerDeploymentInfo: info } = await target.connection.workflowService.describeWorkerDeployment({
      namespace: target.namespace,
      deploymentName: target.deploymentName,
    }));
  } catch (err) {
    if ((err as { code?: number }).code === 5 /* NOT_FOUND */) return undefined;
    throw err;
  }
  const routing = info?.routingConfig;
  return {
    deploymentName: target.deploymentName,
    currentBuildId: routing?.currentDeploymentVersion?.buildId || undefined,
    rampingBuildId: routing?.rampingDeploymentVersion?.buildId || undefined,
    rampingPercentage: routing?.rampingVersionPercentage ?? 0,
    versions: (info?.versionSummaries ?? []).map((v) => ({
      buildId: v.deploymentVersion?.buildId ?? '',
      status: statusNames[v.status ?? 0] ?? 'UNKNOWN',
      drainage: drainageNames[v.drainageInfo?.status ?? v.drainageStatus ?? 0] ?? 'UNKNOWN',
      createdAt: toDate(v.createTime),
      lastCurrentAt: toDate(v.lastCurrentTime),
    })),
  };
}

/** New sagas start on `buildId`; pinned sagas stay where they started. Needs a worker of that build polling. */
export async function setCurrentVersion(target: DeploymentTarget, buildId: string): Promise<void> {
  await target.connection.workflowService.setWorkerDeploymentCurrentVersion({
    namespace: target.namespace,
    deploymentName: target.deploymentName,
    buildId,
    identity: target.identity ?? 'saga-cli',
  });
}

/** `percentage` of new sagas start on `buildId`, the rest on the current version; 0 with no build ID ends the ramp. */
export async function setRampingVersion(target: DeploymentTarget, buildId: string | undefined, percentage: number): Promise<void> {
  if (!Number.isFinite(percentage) || percentage < 0 || percentage > 100) throw new RangeError(`ramp percentage must be 0 to 100, got ${percentage}`);
  await target.connection.workflowService.setWorkerDeploymentRampingVersion({
    namespace: target.namespace,
    deploymentName: target.deploymentName,
    buildId: buildId ?? '',
    percentage,
    identity: target.identity ?? 'saga-cli',
  });
}

/** The build that was current before the current one, if any. */
export function previousBuild(view: DeploymentView): string | undefined {
  return view.versions
    .filter((v) => v.buildId !== view.currentBuildId && v.lastCurrentAt)
    .sort((x, y) => y.lastCurrentAt!.getTime() - x.lastCurrentAt!.getTime())[0]?.buildId;
}

/** Visibility query for the open sagas pinned to (or running on) one build. */
export function openOnBuildQuery(deploymentName: string, buildId: string): string {
  return `TemporalWorkerDeploymentVersion = "${deploymentName}:${buildId}" AND ExecutionStatus = "Running"`;
}
