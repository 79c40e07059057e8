import type { Client } from '@temporalio/client';

/** New orders are turned away while this many sagas or more are still on their way to a decision. */
export class IntakeOverloadedError extends Error {
  override name = 'IntakeOverloadedError';
  constructor(
    readonly backlog: number,
    readonly limit: number,
    readonly retryAfterMs: number,
  ) {
    super(`${backlog} orders are still being processed (limit ${limit}); retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** Sagas of one task queue started and not yet waiting for a person, confirmed or cancelled: work the fleet has not done yet. */
export function backlogQuery(taskQueue: string): string {
  return `WorkflowType = 'orderSaga' AND TaskQueue = '${taskQueue.replaceAll("'", "''")}' AND ExecutionStatus = 'Running' AND OrderStatus = 'RUNNING'`;
}

export function countBacklog(client: Client, taskQueue: string): () => Promise<number> {
  const query = backlogQuery(taskQueue);
  return async () => (await client.workflow.count(query)).count;
}

/**
 * Admission control for both producers. A count of the backlog, read every `everyMs`, closes the gate
 * at `limit` and opens it again below 90% of it, so latency stays bounded under overload instead of
 * growing with the queue. A failed count keeps the last state: a Temporal outage refuses starts anyway.
 */
export class Admission {
  private count = 0;
  private closed = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly readBacklog: () => Promise<number>,
    readonly limit: number,
    readonly everyMs = 1_000,
  ) {}

  start(): void {
    if (this.limit <= 0 || this.timer) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.everyMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get backlog(): number {
    return this.count;
  }

  get open(): boolean {
    return !this.closed;
  }

  /** Throws IntakeOverloadedError while the gate is closed. */
  admit(): void {
    if (this.closed) throw new IntakeOverloadedError(this.count, this.limit, this.everyMs);
  }

  async poll(): Promise<void> {
    try {
      this.count = await this.readBacklog();
      if (this.count >= this.limit) this.closed = true;
      else if (this.count < this.limit * 0.9) this.closed = false;
    } catch {
      // Keep the last state.
    }
  }
}
