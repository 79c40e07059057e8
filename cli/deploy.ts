import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { loadConfigOrExit } from '../config';
import {
  describeDeployment,
  openOnBuildQuery,
  previousBuild,
  setCurrentVersion,
  setRampingVersion,
  type DeploymentTarget,
  type DeploymentView,
} from '../fleet/deployments';
import { UsageError } from '../lib/cli';
import { ExitCode } from './context';
import { createTemporalClient } from '../lib/temporal-client';

export const deployUsage = `  deploy [status]            the worker deployment: current and ramping builds, each build's state and open sagas
  deploy current <buildId>   new sagas start on <buildId>; running pinned sagas stay on their build
  deploy ramp <buildId> <%>  send that share of new sagas to <buildId>, the rest to the current build
  deploy ramp --stop         end the ramp
  deploy rollback            make the previously current build current again
              --json            machine-readable output
              --deployment N    the deployment (default WORKER_DEPLOYMENT_NAME)`;

const buildIdPattern = /^[\w.-]{1,100}$/;

function checkBuildId(buildId: string | undefined): string {
  if (!buildId) throw new UsageError('expected a build ID (see `npm run saga -- deploy status`)');
  if (!buildIdPattern.test(buildId)) throw new UsageError(`build ID ${JSON.stringify(buildId)}: letters, digits, _ . - only`);
  return buildId;
}

async function withOpenCounts(client: Client, view: DeploymentView) {
  return {
    ...view,
    versions: await Promise.all(
      view.versions.map(async (v) => ({ ...v, openSagas: (await client.workflow.count(openOnBuildQuery(view.deploymentName, v.buildId))).count })),
    ),
  };
}

function formatStatus(view: Awaited<ReturnType<typeof withOpenCounts>>): string {
  const lines = [
    `deployment ${view.deploymentName}`,
    `  current  ${view.currentBuildId ?? '(none: new sagas go to unversioned workers)'}`,
    ...(view.rampingBuildId ? [`  ramping  ${view.rampingBuildId} at ${view.rampingPercentage}%`] : []),
    '  builds:',
    ...view.versions.map(
      (v) =>
        `    ${v.buildId.padEnd(16)} ${v.status.padEnd(9)} open sagas ${String(v.openSagas).padStart(5)}${v.status === 'DRAINING' ? '  (stop its workers once 0)' : ''}`,
    ),
  ];
  return lines.join('\n');
}

/** `npm run saga -- deploy …`: 0 done, 1 the server refused (unknown build, no workers polling), 2 usage, 3 Temporal unreachable. */
export async function runDeploy(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: 'boolean', default: false }, deployment: { type: 'string' }, stop: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const [action = 'status', ...rest] = positionals;
  if (!['status', 'current', 'ramp', 'rollback'].includes(action)) throw new UsageError(`unknown deploy action ${JSON.stringify(action)}`);
  if (action === 'current' || (action === 'ramp' && !values.stop)) checkBuildId(rest[0]);
  // Every argument is checked before any connection, as for every command (exit 2).
  const percentage = action === 'ramp' && !values.stop ? rampPercentage(rest[1]) : undefined;
  const expected = action === 'ramp' ? (values.stop ? 0 : 2) : action === 'current' ? 1 : 0;
  if (rest.length > expected)
    throw new UsageError(`deploy ${action}${values.stop ? ' --stop' : ''} takes ${expected || 'no'} argument${expected === 1 ? '' : 's'}, got ${rest.length}`);
  const config = loadConfigOrExit();
  const deploymentName = values.deployment ?? config.WORKER_DEPLOYMENT_NAME;
  if (!buildIdPattern.test(deploymentName)) throw new UsageError(`deployment ${JSON.stringify(deploymentName)}: letters, digits, _ . - only`);
  const { client, connection, close } = createTemporalClient({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE });
  const target: DeploymentTarget = { connection, namespace: config.TEMPORAL_NAMESPACE, deploymentName };
  const print = (human: string, json: object) => process.stdout.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
  try {
    const view = await connection.withDeadline(Date.now() + 10_000, () => describeDeployment(target));
    if (!view) {
      process.stderr.write(
        `error: no worker of deployment ${deploymentName} has polled ${config.TEMPORAL_ADDRESS} yet (workers need WORKER_VERSIONING=pinned)\n`,
      );
      return 1;
    }
    switch (action) {
      case 'status': {
        const full = await withOpenCounts(client, view);
        print(formatStatus(full), full);
        return 0;
      }
      case 'current': {
        const buildId = checkBuildId(rest[0]);
        await setCurrentVersion(target, buildId);
        print(`${deploymentName}: ${buildId} is current (was ${view.currentBuildId ?? 'none'})`, {
          deploymentName,
          currentBuildId: buildId,
          previous: view.currentBuildId ?? null,
        });
        return 0;
      }
      case 'ramp': {
        if (values.stop) {
          await setRampingVersion(target, undefined, 0);
          print(`${deploymentName}: ramp ended`, { deploymentName, rampingBuildId: null });
          return 0;
        }
        const buildId = checkBuildId(rest[0]);
        await setRampingVersion(target, buildId, percentage!);
        print(`${deploymentName}: ${percentage}% of new sagas go to ${buildId}`, { deploymentName, rampingBuildId: buildId, percentage });
        return 0;
      }
      case 'rollback': {
        const previous = previousBuild(view);
        if (!previous) {
          process.stderr.write(`error: ${deploymentName} has no previously current build to return to\n`);
          return 1;
        }
        await setCurrentVersion(target, previous);
        print(`${deploymentName}: rolled back to ${previous} (was ${view.currentBuildId ?? 'none'})`, {
          deploymentName,
          currentBuildId: previous,
          previous: view.currentBuildId ?? null,
        });
        return 0;
      }
      default:
        throw new UsageError(`unknown deploy action ${JSON.stringify(action)}`);
    }
  } catch (err) {
    const code = (err as { code?: number }).code;
    if (code === 14 /* UNAVAILABLE */ || code === 4 /* DEADLINE_EXCEEDED */) {
      process.stderr.write(`error: cannot reach Temporal at ${config.TEMPORAL_ADDRESS}; start it (npm start) or set TEMPORAL_ADDRESS\n`);
      return ExitCode.unavailable;
    }
    if (code === 3 /* INVALID_ARGUMENT */ || code === 5 /* NOT_FOUND */ || code === 9 /* FAILED_PRECONDITION */) {
      process.stderr.write(`error: Temporal refused: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await close();
  }
}

/** A percentage written as digits (two decimals at most): `1e1`, `0x10` or ` 50 ` are refused, not read as numbers. */
function rampPercentage(given: string | undefined): number {
  if (given === undefined || !/^\d{1,3}(\.\d{1,2})?$/.test(given) || Number(given) > 100)
    throw new UsageError(`expected a percentage from 0 to 100, got ${JSON.stringify(given ?? '')}`);
  return Number(given);
}
