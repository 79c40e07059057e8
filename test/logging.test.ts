import { logProbe } from './workflows/log-probe';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../lib/logger';
import { createOrderWorker } from '../worker/create-worker';
import { temporalLogger } from '../worker/runtime';
import { createTestDatabase, type TestDatabase } from './helpers/database';
import { captureRuntimeLogs, quietBundlerLogger } from './helpers/loggers';
import { uniqueIds } from './helpers/seed';
import { startTimeSkippingEnv } from './helpers/temporal';

describe('Temporal runtime logs go to pino', () => {
  // test/setup-runtime.ts installed the runtime with the same adapter the worker uses; take its lines.
  const lines = captureRuntimeLogs('info');
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let db: TestDatabase;

  beforeAll(async () => {
    [env, bundle, db] = await Promise.all([
      startTimeSkippingEnv(),
      bundleWorkflowCode({ workflowsPath: path.join(__dirname, 'workflows', 'log-probe.ts'), logger: quietBundlerLogger }),
      createTestDatabase(),
    ]);
  });
  afterAll(async () => {
    await env?.teardown();
    await db?.drop();
  });

  it('maps each SDK level to its pino level and keeps the meta as flat fields', () => {
    const written: Record<string, unknown>[] = [];
    const pinoLogger = createLogger({
      name: 'probe',
      level: 'trace',
      destination: { write: (line) => void written.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const sdk = temporalLogger(pinoLogger);
    sdk.trace('t', { sdkComponent: 'worker' });
    sdk.debug('d');
    sdk.info('i', { workflowId: 'wf-1' });
    sdk.warn('w', { error: new Error('boom') });
    sdk.error('e');
    sdk.log('WARN', 'via log');
    expect(written.map((l) => [l.level, l.msg])).toEqual([
      [10, 't'],
      [20, 'd'],
      [30, 'i'],
      [40, 'w'],
      [50, 'e'],
      [40, 'via log'],
    ]);
    expect(written[0]).toMatchObject({ name: 'probe', sdkComponent: 'worker' });
    expect(written[2]).toMatchObject({ workflowId: 'wf-1' });
    expect(written[3]!.error).toMatchObject({ type: 'Error', message: 'boom', stack: expect.stringContaining('boom') as string });
  });

  it('workflow and activity lines carry the workflow, run and activity IDs', async () => {
    const ids = uniqueIds('logs');
    const taskQueue = `logs-${ids.tag}`;
    const worker = await createOrderWorker({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, pool: db.pool });
    const { workflowId, runId, result } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(logProbe, { taskQueue, workflowId: `log-probe-${ids.tag}`, args: [{ orderId: ids.message }] });
      return { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, result: await handle.result() };
    });
    // Nothing was reserved or debited, so both compensations only fence.
    expect(result).toEqual(['fenced', 'fenced']);

    // With Core's logs forwarded, the runtime holds every line ~100 ms to sort them by time.
    const find = (msg: string) =>
      vi.waitFor(() => lines.find((l) => l.msg === msg && l.orderId === ids.message) ?? expect.unreachable(`no "${msg}" line yet`), { timeout: 5_000 });
    expect(await find('log probe started')).toMatchObject({
      level: 30,
      name: 'test',
      sdkComponent: 'workflow',
      workflowType: 'logProbe',
      workflowId,
      runId,
      taskQueue,
    });
    const activity = {
      level: 30,
      name: 'test',
      sdkComponent: 'activity',
      workflowType: 'logProbe',
      workflowId,
      workflowRunId: runId,
      taskQueue,
      attempt: 1,
      outcome: 'fenced',
    };
    expect(await find('releaseStock')).toMatchObject({ ...activity, activityType: 'releaseStock', isLocal: false });
    expect(await find('refundDebit')).toMatchObject({ ...activity, activityType: 'refundDebit', isLocal: true });
  });
});
