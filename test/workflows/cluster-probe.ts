import { proxyActivities, sleep } from '@temporalio/workflow';

export interface ClusterProbeActivities {
  echo(value: string): Promise<string>;
}

// A task handed out by a node that then died is tried again after 5 s rather than after minutes.
const { echo } = proxyActivities<ClusterProbeActivities>({
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '1 second' },
});

/** A durable timer, then one activity: both must outlive the node that held the workflow's shard when it started. */
export async function napThenEcho({ nap, value }: { nap: string; value: string }): Promise<string> {
  await sleep(nap);
  return echo(value);
}
