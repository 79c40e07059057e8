import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CheckBackState } from '../contract/saga-kit';
import { BusinessError } from '../domain/errors';
import { quietBundlerLogger } from './helpers/loggers';
import { startTimeSkippingEnv } from './helpers/temporal';
import { kitProbe, type ProbeActivities, type ProbeInput, type ProbeStep } from './workflows/kit-probe';

type Behaviour = 'ok' | 'business' | 'doubt';

describe('the saga kit, driving a saga that is not the order', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let calls: string[];
  let behaviour: Partial<Record<ProbeStep, Behaviour>>;
  let checkAnswers: CheckBackState[];
  let finishAnswer: string | undefined;
  let n = 0;

  const activities: ProbeActivities = {
    act(step) {
      calls.push(`act ${step}`);
      const b = behaviour[step] ?? 'ok';
      if (b === 'business') throw ApplicationFailure.create({ type: BusinessError.OutOfStock, message: `no stock for ${step}`, nonRetryable: true });
      if (b === 'doubt') throw ApplicationFailure.create({ type: 'ConnectionLost', message: `lost the reply of ${step}`, nonRetryable: true });
      return Promise.resolve();
    },
    undo(step) {
      calls.push(`undo ${step}`);
      return Promise.resolve('compensated');
    },
    check(step) {
      calls.push(`check ${step}`);
      return Promise.resolve(checkAnswers.shift() ?? 'unknown');
    },
    finish(reason) {
      calls.push(`finish ${reason}`);
      return Promise.resolve(finishAnswer);
    },
  };

  beforeAll(async () => {
    [env, bundle] = await Promise.all([
      startTimeSkippingEnv(),
      bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'workflows', 'kit-probe.ts'), logger: quietBundlerLogger }),
    ]);
  });
  afterAll(async () => env?.teardown());
  beforeEach(() => {
    calls = [];
    behaviour = {};
    checkAnswers = [];
    finishAnswer = undefined;
  });

  async function runProbe(input: Omit<ProbeInput, 'probeId'>) {
    const probeId = `probe-${++n}`;
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'kit-probes', workflowBundle: bundle, activities });
    return worker.runUntil(env.client.workflow.execute(kitProbe, { taskQueue: 'kit-probes', workflowId: probeId, args: [{ probeId, ...input }] }));
  }

  it('runs every step in order and completes', async () => {
    const status = await runProbe({ checked: [] });
    expect(status).toMatchObject({ probeId: 'probe-1', state: 'DONE', currentStep: 'done', stepsApplied: ['a', 'b', 'c'], compensationsDone: [] });
    expect(calls).toEqual(['act a', 'act b', 'act c']);
  });

  it('a business failure compensates in reverse, the failed step included (it was registered before it ran), then finishes', async () => {
    behaviour.c = 'business';
    const status = await runProbe({ checked: ['a', 'b', 'c'] });
    expect(status).toMatchObject({ state: 'UNDONE', stepsApplied: ['a', 'b'], reason: 'OutOfStock: no stock for c', needsReview: false });
    expect(status.compensationsDone.map((c) => c.step)).toEqual(['c', 'b', 'a']);
    // No check-back: a business failure means the step did not apply.
    expect(calls).toEqual(['act a', 'act b', 'act c', 'undo c', 'undo b', 'undo a', 'finish OutOfStock: no stock for c']);
  });

  it('a step in doubt without a check-back is compensated at once, not flagged', async () => {
    behaviour.b = 'doubt';
    const status = await runProbe({ checked: [] });
    expect(status).toMatchObject({ state: 'UNDONE', stepsApplied: ['a'], checkBacksUsed: 0, needsReview: false });
    expect(status.reason).toBe('b in doubt (ConnectionLost: lost the reply of b)');
    expect(calls).toEqual(['act a', 'act b', 'undo b', 'undo a', `finish ${status.reason}`]);
  });

  it('a step in doubt whose check-back finds it applied goes on', async () => {
    behaviour.b = 'doubt';
    checkAnswers = ['applied'];
    const status = await runProbe({ checked: ['b'] });
    expect(status).toMatchObject({ state: 'DONE', stepsApplied: ['a', 'b', 'c'], checkBacksUsed: 1 });
    expect(calls).toEqual(['act a', 'act b', 'check b', 'act c']);
  });

  it('a check-back that finds the step not applied compensates without a flag', async () => {
    behaviour.b = 'doubt';
    checkAnswers = ['not-applied'];
    const status = await runProbe({ checked: ['b'] });
    expect(status).toMatchObject({ state: 'UNDONE', stepsApplied: ['a'], checkBacksUsed: 1, needsReview: false });
    expect(status.reason).toMatch(/^b did not apply/);
  });

  it('exhausted check-backs compensate and flag for review, never discard', async () => {
    behaviour.a = 'doubt';
    checkAnswers = ['unknown', 'unknown'];
    const status = await runProbe({ checked: ['a'] });
    expect(status).toMatchObject({ state: 'UNDONE', stepsApplied: [], checkBacksUsed: 2, needsReview: true, reviewReason: 'a in doubt after 2 check-backs' });
    expect(calls).toEqual(['act a', 'check a', 'check a', 'undo a', `finish ${status.reason}`]);
  });

  it("a review reason from the saga's last write flags it", async () => {
    behaviour.b = 'business';
    finishAnswer = 'text made storable';
    const status = await runProbe({ checked: [] });
    expect(status).toMatchObject({ state: 'UNDONE', needsReview: true, reviewReason: 'text made storable' });
  });
});
