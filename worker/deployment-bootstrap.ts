import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from '../lib/logger';
import { describeDeployment, openOnBuildQuery, setCurrentVersion, type DeploymentTarget } from '../fleet/deployments';

export type PromotePolicy = 'first' | 'when-current-idle';

/**
 * The first build of a deployment makes itself current, so a fresh fleet runs sagas without a deploy
 * step. Once a deployment has a current build, only `npm run saga -- deploy` changes it: a new build
 * polls, idle, until an operator promotes it. With `when-current-idle` (a single-machine stack, whose
 * restart replaces every worker) a new build also takes over a current build that has no open sagas:
 * nothing is pinned to it, so nothing is left without a worker.
 */
export function becomeCurrent(target: DeploymentTarget, buildId: string, logger: Log, running: () => boolean, policy: PromotePolicy = 'first'): Promise<void> {
  return (async () => {
    // The server registers a version on its first poll, a moment after run() starts.
    for (let attempt = 0; attempt < 60 && running(); attempt++) {
      try {
        const deployment = await describeDeployment(target);
        const currentBuildId = deployment?.currentBuildId;
        if (currentBuildId) {
          if (currentBuildId === buildId) return;
          const open = policy === 'when-current-idle' ? await openSagas(target, currentBuildId) : undefined;
          if (open === 0 && deployment.versions.some((v) => v.buildId === buildId)) {
            await setCurrentVersion(target, buildId);
            logger.info({ buildId, previousBuildId: currentBuildId }, 'the current build had no open sagas: made this build current');
            return;
          }
          if (open !== 0) {
            logger.warn(
              { buildId, currentBuildId, ...(open === undefined ? {} : { openSagas: open }) },
              `build is not current: new sagas start on ${currentBuildId} until \`npm run saga -- deploy current ${buildId}\``,
            );
            return;
          }
        } else if (deployment?.versions.some((v) => v.buildId === buildId)) {
          await setCurrentVersion(target, buildId);
          logger.info({ buildId, deploymentName: target.deploymentName }, 'first build of the deployment: made current');
          return;
        }
      } catch (err) {
        logger.warn({ err, buildId }, 'could not read or set the deployment’s current build; retrying');
      }
      await sleep(1_000);
    }
  })();
}

async function openSagas(target: DeploymentTarget, buildId: string): Promise<number> {
  const { count } = await target.connection.workflowService.countWorkflowExecutions({
    namespace: target.namespace,
    query: openOnBuildQuery(target.deploymentName, buildId),
  });
  return Number(count ?? 0);
}
