import path from 'node:path';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowInterceptorModules } from '../tracing';
import { workflowsPath } from '../worker/create-worker';
import { loadHistories, refundHistoriesDir } from './helpers/histories';
import { quietBundlerLogger } from './helpers/loggers';

describe('determinism: replay of histories recorded from real runs', () => {
  const histories = loadHistories();
  let current: WorkflowBundleWithSourceMap;
  let changed: WorkflowBundleWithSourceMap;

  beforeAll(async () => {
    [current, changed] = await Promise.all([
      // As workers bundle it: with the tracing interceptors, which must not change what a history replays to.
      bundleWorkflowCode({ workflowsPath, workflowInterceptorModules, logger: quietBundlerLogger }),
      bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'workflows', 'order-saga-changed.ts'), logger: quietBundlerLogger }),
    ]);
  });

  it('has fixtures of every shape the code still accepts: S9 local steps, S10 decision updates, S11 review waits, and S12 retired patches', () => {
    const patches = (history: (typeof histories)[number]['history']) =>
      (history.events ?? [])
        .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
        .map((e) => {
          const payload = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data;
          return JSON.parse(Buffer.from(payload ?? []).toString('utf8')) as { id: string; deprecated: boolean };
        });
    const shapes = histories.map(({ workflowId, history }) => ({ workflowId, patches: patches(history) }));
    const count = (id: string, deprecated?: boolean) =>
      shapes.filter((s) => s.patches.some((p) => p.id === id && (deprecated === undefined || p.deprecated === deprecated))).length;
    // Histories without the local-steps marker (the shapes before S9) are no longer accepted: their fixtures went with S12.
    expect(shapes.filter((s) => !s.patches.some((p) => p.id === 'local-steps')).map((s) => s.workflowId)).toEqual([]);
    expect(count('local-steps', false)).toBeGreaterThanOrEqual(12);
    expect(count('local-steps', true)).toBeGreaterThanOrEqual(12);
    expect(count('decision-update', false)).toBeGreaterThanOrEqual(5);
    expect(count('decision-update', true)).toBeGreaterThanOrEqual(5);
    expect(count('await-review')).toBeGreaterThanOrEqual(2);
  });

  it('the current workflow code replays every recorded history', async () => {
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: current }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });

  it('the current code replays every recorded refund saga: refunded in full, in part, and rejected', async () => {
    const refunds = loadHistories(refundHistoriesDir);
    expect(refunds.map((r) => r.workflowId)).toEqual(expect.arrayContaining(['refund-full', 'refund-partial', 'refund-rejected']));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: current }, refunds)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });

  it('an unversioned change to the workflow fails the replay', async () => {
    const failed: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: changed }, histories)) {
      if (result.error) failed.push(result.workflowId);
    }
    expect(failed).toHaveLength(histories.length);
  });
});
