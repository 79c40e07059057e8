import { setTimeout as sleep } from 'node:timers/promises';
import type { Log } from '../lib/logger';
import { describeDeployment, setCurrentVersion, type DeploymentTarget } from '../fleet/deployments';

/**
 * The first build of a deployment makes itself current, so a fresh fleet runs sagas without a deploy
 * step. Once a deployment has a current build, only `npm run saga -- deploy` changes it: a new build
 * polls, idle, until an operator promotes it.
 */
export function becomeCurrentIfNone(target: DeploymentTarget, buildId: string, logger: Log, running: () => boolean): void {
  void (async () => {
    // The server registers a version on its first poll, a moment after run() starts.
    for (let attempt = 0; attempt < 60 && running(); attempt++) {
      try {
        const deployment = await describeDeployment(target);
        if (deployment?.currentBuildId) {
          if (deployment.currentBuildId !== buildId) {
            logger.info(
              { buildId, currentBuildId: deployment.currentBuildId },
              'build is not current: new sagas start on the current build until it is deployed',
            );
          }
          return;
        }
        if (deployment?.versions.some((v) => v.buildId === buildId)) {
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
