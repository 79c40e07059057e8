import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

interface Noop {
  noop(): Promise<void>;
}

const regular = proxyActivities<Noop>({ startToCloseTimeout: '30s' });
const local = proxyLocalActivities<Noop>({ startToCloseTimeout: '30s' });

/** Five activities that return at once: what the server costs per workflow, with no work of its own. */
export async function noopWorkflow(kind: 'regular' | 'local'): Promise<void> {
  const { noop } = kind === 'local' ? local : regular;
  for (let i = 0; i < 5; i++) await noop();
}
