import path from 'node:path';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTimeSkippingEnv } from './helpers/temporal';

describe('time-skipping test server', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([
      startTimeSkippingEnv(),
      bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'workflows', 'sleeper.ts'), logger: quietBundlerLogger }),
    ]);
  });
  afterAll(async () => env?.teardown());

  it('runs a workflow that sleeps 10 minutes in seconds of wall time', async () => {
    const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: 'sleepers', workflowBundle: bundle });
    const started = Date.now();
    const result: unknown = await worker.runUntil(
      env.client.workflow.execute('sleeper', { taskQueue: 'sleepers', workflowId: 'sleeper-1', args: [{ duration: '10 minutes' }] }),
    );
    const wallMs = Date.now() - started;
    expect(result).toBe('woke up');
    expect(wallMs).toBeLessThan(10_000);
    const history = await env.client.workflow.getHandle('sleeper-1').fetchHistory();
    const timer = history.events?.find((e) => e.timerStartedEventAttributes);
    expect(Number(timer?.timerStartedEventAttributes?.startToFireTimeout?.seconds)).toBe(600);
  });
});

const quietBundlerLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
