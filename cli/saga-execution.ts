import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';
import type { QueryDefinition } from '@temporalio/workflow';
import type { Config } from '../config';

const DESCRIBE_DEADLINE_MS = 5_000;
const QUERY_DEADLINE_MS = 3_000;

/**
 * A saga as Temporal knows it: its execution, its state attribute, and its status (the query while it runs, the
 * result once completed). Undefined when Temporal has no such workflow.
 */
export async function readSaga<S>(
  client: Client,
  workflowId: string,
  saga: { query: QueryDefinition<S>; stateKey: SearchAttributeKey<typeof SearchAttributeType.KEYWORD> },
) {
  const handle = client.workflow.getHandle(workflowId);
  let described;
  try {
    described = await client.withDeadline(Date.now() + DESCRIBE_DEADLINE_MS, () => handle.describe());
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  const { runId, status, taskQueue, startTime, closeTime, historyLength } = described;
  const workflow = { workflowId, runId, status: status.name, taskQueue, startTime, closeTime: closeTime ?? null, historyLength };
  const searchState = described.typedSearchAttributes.get(saga.stateKey);
  const running = status.name === 'RUNNING';
  let result: S | undefined;
  let note: string | undefined;
  try {
    if (running) result = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(saga.query));
    else if (status.name === 'COMPLETED') result = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.result() as Promise<S>);
  } catch {
    // A running saga answers the query only through a worker; Temporal itself answered the describe.
    note = running ? `the status query went unanswered for ${QUERY_DEADLINE_MS / 1000} s: is a worker polling ${taskQueue}?` : 'its result could not be read';
  }
  return { workflow, saga: result, note, searchState };
}

export type SagaExecution<S> = NonNullable<Awaited<ReturnType<typeof readSaga<S>>>>;

/** The Web UI page of the run's history. */
export function uiLink(config: Config, workflow: { workflowId: string; runId: string }): string {
  const base = config.TEMPORAL_UI_URL ?? `http://${config.TEMPORAL_ADDRESS.split(':')[0]}:${config.TEMPORAL_UI_PORT}`;
  const path = ['namespaces', config.TEMPORAL_NAMESPACE, 'workflows', workflow.workflowId, workflow.runId, 'history'].map(encodeURIComponent).join('/');
  return `${base.replace(/\/+$/, '')}/${path}`;
}

/** The `saga` line of a status view: the execution, or why there is none. */
export function sagaLine(workflow: SagaExecution<unknown>['workflow'] | null, unreachable: boolean): string | undefined {
  if (workflow) {
    const closed = workflow.closeTime ? `, closed ${workflow.closeTime.toISOString()}` : '';
    return `${workflow.workflowId} ${workflow.status} on ${workflow.taskQueue}, run ${workflow.runId}, started ${workflow.startTime.toISOString()}${closed}`;
  }
  return unreachable ? undefined : 'no workflow in Temporal (closed and past retention, or never started)';
}
