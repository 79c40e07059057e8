import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowStartOptions } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Workflow } from '@temporalio/common';

export interface StartDeadlines {
  /** Bounded, so an outage answers 503 in seconds rather than after the SDK's long retry schedule. */
  startMs: number;
  lookupMs: number;
}

export interface EagerStart {
  /** Ask Temporal to hand the first workflow task to the worker sharing the client's connection (INTAKE_LAYOUT=worker). */
  eager?: boolean;
  /** Called when Temporal did so. */
  onEager?: () => void;
}

/**
 * Starts the saga under its ID once: a copy joins the open run (USE_EXISTING), and a closed one is never run
 * again (REJECT_DUPLICATE) but answered with its run ID. Resolves with the run ID either way.
 */
export async function startOnce<W extends Workflow>(
  client: Client,
  workflow: W,
  options: Omit<WorkflowStartOptions<W>, 'workflowIdConflictPolicy' | 'workflowIdReusePolicy' | 'requestEagerStart'>,
  deadlines: StartDeadlines,
  { eager = false, onEager }: EagerStart = {},
): Promise<string> {
  try {
    const handle = await client.withDeadline(Date.now() + deadlines.startMs, () =>
      client.workflow.start(workflow, {
        ...options,
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        ...(eager ? { requestEagerStart: true } : {}),
      } as WorkflowStartOptions<W>),
    );
    if (handle.eagerlyStarted) onEager?.();
    return handle.firstExecutionRunId;
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return (await client.withDeadline(Date.now() + deadlines.lookupMs, () => client.workflow.getHandle(options.workflowId).describe())).runId;
  }
}
