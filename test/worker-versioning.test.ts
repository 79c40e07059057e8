import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { statusQuery } from '../contract/saga';
import { workflowIdFor } from '../domain/order';
import { describeDeployment, openOnBuildQuery, setCurrentVersion, type DeploymentTarget } from '../fleet/deployments';
import { createLogger } from '../lib/logger';
import { becomeCurrent } from '../worker/deployment-bootstrap';
import { decideOrder } from '../intake/decide-order';
import { startOrder } from '../intake/start-order';
import { createOrderWorker, workflowsPath } from '../worker/create-worker';
import { buildIdOf, deploymentOptions } from '../worker/settings';
import { repoRoot } from '../tools/stack/servers';
import { quietBundlerLogger } from './helpers/loggers';
import { startRealStack, type RealStack } from './helpers/real-stack';
import { seed, uniqueIds } from './helpers/seed';

const { EventType } = temporal.api.enums.v1;

/**
 * A rolling upgrade with Worker Versioning: sagas waiting on build A keep running on A after build B (a
 * changed saga that could never replay A's histories) becomes current; new sagas run on B; A drains.
 */
describe('worker versioning: pinned sagas finish on the build that started them', () => {
  let stack: RealStack;
  let connection: NativeConnection;
  const queue = `versioned-${randomUUID().slice(0, 8)}`;
  const deploymentName = `orders-${randomUUID().slice(0, 8)}`;
  let target: DeploymentTarget;
  const workers: { worker: Worker; done: Promise<void> }[] = [];

  beforeAll(async () => {
    stack = await startRealStack();
    connection = await NativeConnection.connect({ address: stack.temporal.address });
    target = { connection, namespace: 'default', deploymentName };
  });
  afterAll(async () => {
    for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
    await Promise.allSettled(workers.map((w) => w.done));
    await connection?.close();
    await stack?.stop();
  });

  function saga(...args: string[]) {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'cli/saga.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, WORKER_DEPLOYMENT_NAME: deploymentName },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: run.status, out: run.stdout, err: run.stderr, json: () => JSON.parse(run.stdout) as Record<string, unknown> };
  }

  interface Build {
    versioning?: 'pinned' | 'auto-upgrade';
    deployment?: DeploymentTarget;
    taskQueue?: string;
    /** Default: the bundle's own, as a worker computes it. */
    buildId?: string;
  }

  async function startBuild(
    file: string,
    { versioning = 'pinned', deployment = target, taskQueue = queue, buildId: given }: Build = {},
  ): Promise<{ buildId: string; worker: Worker; done: Promise<void> }> {
    const bundle = await bundleWorkflowCode({ workflowsPath: file, logger: quietBundlerLogger });
    const buildId = given ?? buildIdOf(bundle.code);
    const worker = await createOrderWorker({
      connection,
      taskQueue,
      workflowBundle: bundle,
      pool: stack.db.pool,
      settings: { workerDeploymentOptions: deploymentOptions({ WORKER_VERSIONING: versioning, WORKER_DEPLOYMENT_NAME: deployment.deploymentName }, buildId) },
    });
    const entry = { worker, done: worker.run() };
    workers.push(entry);
    // The server knows a version once its worker has polled.
    await vi.waitFor(async () => expect((await describeDeployment(deployment))?.versions.map((v) => v.buildId)).toContain(buildId), {
      timeout: 30_000,
      interval: 250,
    });
    return { buildId, ...entry };
  }

  async function manualOrders(tag: string, count: number, taskQueue = queue) {
    const orders = [];
    for (let i = 0; i < count; i++) {
      const ids = uniqueIds(`${tag}${i}`);
      await seed(stack.db.pool, { account: [ids.account, 10_000], skus: [[ids.sku, 5]] });
      const order = {
        messageId: ids.message,
        customerId: ids.account,
        items: [{ sku: ids.sku, quantity: 1, unitPriceCents: 250 }],
        confirmation: 'manual' as const,
      };
      await startOrder({ client: stack.client, pool: stack.db.pool, taskQueue }, order, 'rest');
      orders.push(ids.message);
    }
    for (const id of orders) {
      const handle = stack.client.workflow.getHandle(workflowIdFor(id));
      await vi.waitFor(async () => expect((await handle.query(statusQuery)).state).toBe('AWAITING_CONFIRMATION'), { timeout: 30_000, interval: 250 });
    }
    return orders;
  }

  /** The build that completed each workflow task of the saga, from its history. */
  async function buildsThatRan(orderId: string): Promise<string[]> {
    const history = await stack.client.workflow.getHandle(workflowIdFor(orderId)).fetchHistory();
    const builds = (history.events ?? [])
      .filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
      .map((e) => e.workflowTaskCompletedEventAttributes?.deploymentVersion?.buildId ?? '(none)');
    return [...new Set(builds)];
  }

  it('A waits, B becomes current, A’s sagas finish on A, new ones run on B, A drains', { timeout: 240_000 }, async () => {
    const a = await startBuild(workflowsPath);
    await setCurrentVersion(target, a.buildId);
    const onA = await manualOrders('a', 3);

    const b = await startBuild(path.resolve(__dirname, 'workflows', 'order-saga-changed.ts'));
    expect(b.buildId).not.toBe(a.buildId);
    expect(saga('deploy', 'current', b.buildId)).toMatchObject({ code: 0, out: `${deploymentName}: ${b.buildId} is current (was ${a.buildId})\n` });
    expect(await describeDeployment(target)).toMatchObject({ currentBuildId: b.buildId });
    const status = saga('deploy', 'status', '--json');
    expect(status.code, status.err).toBe(0);
    const view = status.json() as { currentBuildId: string; versions: { buildId: string; status: string; openSagas: number }[] };
    expect(view.currentBuildId).toBe(b.buildId);
    expect(view.versions.find((v) => v.buildId === a.buildId)).toMatchObject({ status: 'DRAINING', openSagas: 3 });
    const rollback = saga('deploy', 'rollback', '--json');
    expect(rollback.code, rollback.err).toBe(0);
    expect(rollback.json()).toEqual({ deploymentName, currentBuildId: a.buildId, previous: b.buildId });
    expect(saga('deploy', 'current', b.buildId).code).toBe(0);
    const onB = await manualOrders('b', 2);

    for (const id of [...onA, ...onB]) {
      expect(await decideOrder({ client: stack.client, pool: stack.db.pool }, { orderId: id, decision: 'confirm' })).toMatchObject({ status: 'CONFIRMED' });
    }
    // B's saga starts with a timer A's code does not have: had A's sagas moved to B, their replay would fail.
    for (const id of onA) expect(await buildsThatRan(id)).toEqual([a.buildId]);
    for (const id of onB) expect(await buildsThatRan(id)).toEqual([b.buildId]);
    for (const id of onA) {
      const info = (await stack.client.workflow.getHandle(workflowIdFor(id)).describe()).raw.workflowExecutionInfo?.versioningInfo;
      expect(info?.behavior).toBe(temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_PINNED);
    }

    // A is no longer current and runs nothing: stopping it strands nothing.
    const versions = (await describeDeployment(target))!.versions;
    expect(versions.find((v) => v.buildId === a.buildId)?.status).toMatch(/DRAINING|DRAINED|INACTIVE/);
    a.worker.shutdown();
    await a.done;
    const [late] = await manualOrders('late', 1);
    expect(await decideOrder({ client: stack.client, pool: stack.db.pool }, { orderId: late!, decision: 'cancel' })).toMatchObject({ status: 'CANCELLED' });
    expect(await buildsThatRan(late!)).toEqual([b.buildId]);
  });

  it('npm start’s policy: a new build takes over a current build with no open sagas, never one with a saga pinned to it', { timeout: 240_000 }, async () => {
    const idle = { connection, namespace: 'default', deploymentName: `${deploymentName}-idle` };
    const taskQueue = `${queue}-idle`;
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ name: 'bootstrap', level: 'info', destination: { write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
    const promote = (buildId: string) => becomeCurrent(idle, buildId, logger, () => true, 'when-current-idle');

    const a = await startBuild(workflowsPath, { deployment: idle, taskQueue });
    await promote(a.buildId);
    expect((await describeDeployment(idle))?.currentBuildId).toBe(a.buildId);
    const [waiting] = await manualOrders('idle', 1, taskQueue);

    const b = await startBuild(path.resolve(__dirname, 'workflows', 'order-saga-changed.ts'), { deployment: idle, taskQueue });
    await promote(b.buildId);
    expect((await describeDeployment(idle))?.currentBuildId).toBe(a.buildId);
    expect(lines.at(-1)).toMatchObject({ level: 40, currentBuildId: a.buildId, openSagas: 1 });

    expect(await decideOrder({ client: stack.client, pool: stack.db.pool }, { orderId: waiting!, decision: 'confirm' })).toMatchObject({ status: 'CONFIRMED' });
    expect(await buildsThatRan(waiting!)).toEqual([a.buildId]);
    await vi.waitFor(async () => expect((await stack.client.workflow.count(openOnBuildQuery(idle.deploymentName, a.buildId))).count).toBe(0), {
      timeout: 30_000,
      interval: 250,
    });
    await promote(b.buildId);
    expect((await describeDeployment(idle))?.currentBuildId).toBe(b.buildId);
    expect(lines.at(-1)).toMatchObject({ level: 30, buildId: b.buildId, previousBuildId: a.buildId });
  });

  it('auto-upgrade: a waiting saga moves to the new current build at its next workflow task', { timeout: 240_000 }, async () => {
    const upgrading = { connection, namespace: 'default', deploymentName: `${deploymentName}-auto` };
    const taskQueue = `${queue}-auto`;
    // The same code under two build IDs: a compatible change, as auto-upgrade requires.
    const build = (buildId: string) => startBuild(workflowsPath, { versioning: 'auto-upgrade', deployment: upgrading, taskQueue, buildId });
    const a = await build(`b-auto-a-${randomUUID().slice(0, 6)}`);
    await setCurrentVersion(upgrading, a.buildId);
    const waiting = await manualOrders('u', 2, taskQueue);
    const b = await build(`b-auto-b-${randomUUID().slice(0, 6)}`);
    // The server refuses a current version until its worker has polled every task queue the old one serves.
    await vi.waitFor(() => setCurrentVersion(upgrading, b.buildId), { timeout: 30_000, interval: 250 });

    for (const id of waiting) {
      expect(await decideOrder({ client: stack.client, pool: stack.db.pool }, { orderId: id, decision: 'confirm' })).toMatchObject({ status: 'CONFIRMED' });
      expect(await buildsThatRan(id)).toEqual([a.buildId, b.buildId]);
      const info = (await stack.client.workflow.getHandle(workflowIdFor(id)).describe()).raw.workflowExecutionInfo?.versioningInfo;
      expect(info?.behavior).toBe(temporal.api.enums.v1.VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE);
    }
  });
});

describe('npm run saga -- deploy: usage and reachability', () => {
  it('a bad build ID and an unknown action are usage errors (exit 2), an unreachable server exit 3', { timeout: 60_000 }, () => {
    const run = (env: NodeJS.ProcessEnv, ...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'cli/saga.ts', 'deploy', ...args], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 30_000,
      });
    const unreachable = run({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, 'status');
    expect(unreachable.status).toBe(3);
    expect(unreachable.stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
    const badId = run({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, 'current', 'x"; drop');
    expect(badId.status).toBe(2);
    expect(badId.stderr).toContain('letters, digits, _ . - only');
    const unknown = run({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, 'promote');
    expect(unknown.stderr).toContain('unknown deploy action "promote"');
    // Found by the attack on the CLI: the percentage was read only after connecting (exit 1 or 3, not 2).
    for (const given of ['101', 'NaN', '1e1', '0x10', ' 50 ', '']) {
      const ramp = run({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, 'ramp', 'b-123', given);
      expect(ramp.status, given).toBe(2);
      expect(ramp.stderr).toContain('expected a percentage from 0 to 100');
    }
    for (const args of [
      ['ramp', '--stop', 'extra'],
      ['current', 'b-1', 'b-2'],
      ['status', 'x'],
    ]) {
      const extra = run({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, ...args);
      expect(extra.status, args.join(' ')).toBe(2);
      expect(extra.stderr).toMatch(/takes (no|1|2) argument/);
    }
  });
});
