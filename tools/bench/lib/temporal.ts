import type { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

const EventType = temporal.api.enums.v1.EventType;

/** Waits until the process `pid` polls `taskQueue` (a worker's identity starts with its pid). */
export async function waitUntilPolling(connection: Connection, taskQueue: string, pid: number, timeoutMs: number, namespace = 'default'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { pollers } = await connection.workflowService
      .describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW })
      .catch(() => ({ pollers: [] }));
    if ((pollers ?? []).some((p) => p.identity?.startsWith(`${pid}@`))) return;
    if (Date.now() > deadline) throw new Error(`pid ${pid} does not poll ${taskQueue} after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface HistoryStats {
  sampled: number;
  /** Mean over the sample; min and max to show they are all alike. */
  events: { mean: number; min: number; max: number };
  workflowTasks: { mean: number; min: number; max: number };
  activityTasks: { mean: number; min: number; max: number };
  /** Event types of the first sampled history, with their counts. */
  eventTypes: Record<string, number>;
}

const spread = (values: number[]) => ({
  mean: Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10) / 10,
  min: Math.min(...values),
  max: Math.max(...values),
});

/** History events, completed workflow tasks and scheduled activities of a few closed workflows. */
export async function historyStats(client: Client, workflowIds: string[]): Promise<HistoryStats> {
  const events: number[] = [];
  const tasks: number[] = [];
  const activities: number[] = [];
  const eventTypes: Record<string, number> = {};
  for (const id of workflowIds) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const list = history.events ?? [];
    events.push(list.length);
    tasks.push(list.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length);
    activities.push(list.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED).length);
    if (id !== workflowIds[0]) continue;
    for (const e of list) {
      const name = (EventType[e.eventType ?? 0] ?? String(e.eventType)).replace(/^EVENT_TYPE_/, '');
      eventTypes[name] = (eventTypes[name] ?? 0) + 1;
    }
  }
  return { sampled: workflowIds.length, events: spread(events), workflowTasks: spread(tasks), activityTasks: spread(activities), eventTypes };
}
