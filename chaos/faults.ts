import { setTimeout as sleep } from 'node:timers/promises';
import { findProcesses, type ChaosStack, type ProcessKind } from './stack';

export type FaultKind = 'kill-worker' | 'restart-postgres' | 'restart-kafka' | 'restart-temporal' | 'stall-temporal' | 'stall-worker';
export const faultKinds: FaultKind[] = ['kill-worker', 'restart-postgres', 'restart-kafka', 'restart-temporal', 'stall-temporal', 'stall-worker'];

export interface Fault {
  kind: FaultKind;
  /** ISO time the fault was injected. */
  at: string;
  pid: number;
  detail?: string;
}

export interface FaultOptions {
  /** Whether that worker process polls its task queue yet: only a serving worker is worth killing. */
  isServing: (pid: number) => Promise<boolean>;
  /** How long SIGSTOP holds a process. */
  stallMs: number;
  /** Pause between two of the one-off faults. */
  gapMs: number;
  /** Period of the kill -9 of a worker. */
  killWorkerEveryMs: number;
  log: (line: string) => void;
}

/** Injects every fault kind against a supervised stack, logging each with its time. */
export class FaultInjector {
  readonly faults: Fault[] = [];
  private stopped = false;

  constructor(
    private readonly stack: ChaosStack,
    private readonly options: FaultOptions,
  ) {}

  /** The one-off faults, in turn; resolves when each has happened and its process is back. */
  async runSchedule(): Promise<void> {
    const plan: [FaultKind, () => Promise<void>][] = [
      ['restart-postgres', () => this.restart('restart-postgres', 'postgres', 'SIGINT')],
      ['stall-worker', () => this.stall('stall-worker', 'worker')],
      ['restart-kafka', () => this.restart('restart-kafka', 'kafka', 'SIGTERM')],
      ['restart-temporal', () => this.restart('restart-temporal', 'temporal', 'SIGTERM')],
      ['stall-temporal', () => this.stall('stall-temporal', 'temporal')],
    ];
    for (const [, inject] of plan) {
      if (this.stopped) return;
      await sleep(this.options.gapMs);
      await inject();
    }
  }

  /** kill -9 of a worker every few seconds until stop(). */
  async killWorkersPeriodically(): Promise<void> {
    while (!this.stopped) {
      await sleep(this.options.killWorkerEveryMs);
      if (this.stopped) return;
      const [pid] = findProcesses(this.stack.stackPid, 'worker');
      // A worker still starting (bundling) is not killed again: on a slow machine none would ever serve.
      if (pid && (await this.options.isServing(pid).catch(() => false))) this.inject('kill-worker', pid, 'SIGKILL');
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private inject(kind: FaultKind, pid: number, signal: NodeJS.Signals, detail?: string): boolean {
    try {
      process.kill(pid, signal);
    } catch {
      return false; // gone already (a kill -9 raced us)
    }
    const fault = { kind, at: new Date().toISOString(), pid, detail: detail ?? signal };
    this.faults.push(fault);
    this.options.log(`fault ${fault.at} ${kind} pid ${pid} (${fault.detail})`);
    return true;
  }

  /** Stops the server (the supervisor starts it again on the same data) and waits until it is back. */
  private async restart(kind: FaultKind, target: ProcessKind, signal: NodeJS.Signals): Promise<void> {
    const pid = await this.waitFor(target);
    if (pid === undefined || !this.inject(kind, pid, signal)) return;
    await this.waitFor(target, pid);
  }

  private async stall(kind: FaultKind, target: ProcessKind): Promise<void> {
    const pid = await this.waitFor(target);
    if (pid === undefined || !this.inject(kind, pid, 'SIGSTOP', `SIGSTOP for ${this.options.stallMs / 1000}s`)) return;
    await sleep(this.options.stallMs);
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // killed meanwhile (kill -9 of a worker): its successor runs
    }
  }

  /** A running process of that kind other than `not`; undefined if none appears within two minutes. */
  private async waitFor(kind: ProcessKind, not?: number): Promise<number | undefined> {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !this.stopped) {
      const pid = findProcesses(this.stack.stackPid, kind).find((p) => p !== not);
      if (pid !== undefined) return pid;
      await sleep(250);
    }
    return undefined;
  }
}
