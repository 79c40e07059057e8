import { Context } from '@temporalio/activity';
import { Runtime } from '@temporalio/worker';
import { onConflict } from '../db/optimistic-retry';

/** The activity a lost race happened in; every retry in a worker runs inside one. */
function activityType(): string {
  try {
    return Context.current().info.activityType;
  } catch {
    return 'none';
  }
}

/**
 * Counts this worker's lost optimistic-lock races on the runtime's meter, so they are served beside the
 * SDK's metrics (the exporter adds `_total`). After installRuntimeLogger; once per process.
 */
export function countConflicts(): () => void {
  const meter = Runtime.instance().metricMeter;
  const conflicts = meter.createCounter('optimistic_lock_conflicts', undefined, 'Optimistic-lock races lost in this process, retried or given up on');
  const retries = meter.createCounter('optimistic_lock_retries', undefined, 'Lost optimistic-lock races retried in this process');
  return onConflict((outcome) => {
    const tags = { activity_type: activityType() };
    conflicts.add(1, tags);
    if (outcome === 'retried') retries.add(1, tags);
  });
}
