import path from 'node:path';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { workflowInterceptorModules } from '../tracing';
import { workflowsPath } from '../worker/create-worker';
import { loadHistories } from './helpers/histories';
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

  it('has fixtures from before and after the versioned change, covering confirm, cancel, check-back and review paths', () => {
    const patchedRuns = histories.filter(({ history }) => history.events?.some((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch'));
    expect(patchedRuns.length).toBeGreaterThanOrEqual(12);
    expect(histories.length - patchedRuns.length).toBeGreaterThanOrEqual(12);
  });

  it('the current workflow code replays every recorded history', async () => {
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: current }, histories)) {
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
