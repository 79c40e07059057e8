/**
 * Two ways to put load on a target. closedLoop: `concurrency` producers send as fast as the target
 * accepts; the rate is orders / time until the last one is done. openLoop: sends on a fixed schedule
 * whatever the answers, and measures each order from its scheduled time (no coordinated omission).
 */
import { summarize, type LatencySummary } from './stats';

export interface Target {
  /** Sends one order; resolves once the system accepted it. */
  send(index: number): Promise<void>;
  /** Resolves with performance.now() once order `index` is done (CONFIRMED, or the reference's equivalent). */
  done(index: number): Promise<number>;
  /** Resolves with performance.now() once the order's workflow has closed (Temporal targets; open loop only). */
  closed?(index: number): Promise<number>;
}

export interface RunResult {
  count: number;
  failed: number;
  seconds: number;
  /** Orders done per second, from the first send until the last order was done. */
  ordersPerSec: number;
  /** Offered rate (open loop) or null. */
  offeredPerSec: number | null;
  endToEnd: LatencySummary;
  /** Scheduled send until the workflow closed (its result arrived), when the target has workflows. */
  workflowClosed: LatencySummary | null;
  accept: LatencySummary;
  errors: string[];
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));

function withDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done in time`)), Math.max(0, deadline - Date.now()))),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class Recorder {
  readonly e2e: number[] = [];
  readonly closed: number[] = [];
  readonly accept: number[] = [];
  readonly errors: string[] = [];
  lastDone = 0;

  async one(target: Target, index: number, scheduledAt: number, deadline: number, trackClosed = false): Promise<void> {
    try {
      const sent = performance.now();
      await withDeadline(target.send(index), deadline, `send ${index}`);
      this.accept.push(performance.now() - sent);
      const closed = trackClosed && target.closed ? withDeadline(target.closed(index), deadline, `workflow ${index}`) : undefined;
      const doneAt = await withDeadline(target.done(index), deadline, `order ${index}`);
      this.e2e.push(doneAt - scheduledAt);
      this.lastDone = Math.max(this.lastDone, doneAt);
      if (closed) this.closed.push((await closed) - scheduledAt);
    } catch (err) {
      this.errors.push(err instanceof Error ? err.message : String(err));
    }
  }

  result(count: number, start: number, offeredPerSec: number | null): RunResult {
    const seconds = (this.lastDone - start) / 1000;
    if (this.errors.length > count / 10) throw new Error(`${this.errors.length} of ${count} orders failed, first: ${this.errors[0]}`);
    return {
      count,
      failed: this.errors.length,
      seconds: Math.round(seconds * 100) / 100,
      ordersPerSec: Math.round(((count - this.errors.length) / seconds) * 10) / 10,
      offeredPerSec,
      endToEnd: summarize(this.e2e),
      workflowClosed: this.closed.length ? summarize(this.closed) : null,
      accept: summarize(this.accept),
      errors: this.errors.slice(0, 5),
    };
  }
}

export async function closedLoop(target: Target, first: number, count: number, concurrency: number, timeoutMs: number): Promise<RunResult> {
  const recorder = new Recorder();
  const deadline = Date.now() + timeoutMs;
  const pending: Promise<void>[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const sent = performance.now();
        // The producer moves on once its order is accepted; the order's end is awaited beside it.
        let accepted!: () => void;
        const acceptedP = new Promise<void>((r) => (accepted = r));
        const tracked: Target = { send: (n) => target.send(n).finally(accepted), done: (n) => target.done(n) };
        pending.push(recorder.one(tracked, first + i, sent, deadline));
        await acceptedP;
      }
    }),
  );
  await Promise.all(pending);
  return recorder.result(count, start, null);
}

export async function openLoop(target: Target, first: number, count: number, ratePerSec: number, timeoutMs: number): Promise<RunResult> {
  const recorder = new Recorder();
  const deadline = Date.now() + timeoutMs;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const scheduledAt = start + (i * 1000) / ratePerSec;
    await sleepUntil(scheduledAt);
    pending.push(recorder.one(target, first + i, scheduledAt, deadline, true));
  }
  await Promise.all(pending);
  return recorder.result(count, start, ratePerSec);
}
