import { setTimeout as sleep } from 'node:timers/promises';
import type { ManagedProcess } from './servers';

export interface Service {
  name: string;
  logFile: string;
  /** Starts the process again (same port, data and environment) and resolves once it serves. */
  start: () => Promise<ManagedProcess>;
}

export interface SupervisorOptions {
  maxRestarts: number;
  windowSeconds: number;
  /** Aborted on Ctrl-C: no more restarts, and a backoff in progress ends at once. */
  signal: AbortSignal;
  /** Called once a process exceeds maxRestarts within the window; the message names it and its log. */
  onCrashLoop: (message: string) => void;
}

const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;

/** Restarts any watched process that exits unless the stack is stopping; every exit is unexpected. */
export class Supervisor {
  constructor(private readonly options: SupervisorOptions) {}

  watch(service: Service, proc: ManagedProcess): void {
    void this.supervise(service, proc);
  }

  private async supervise(service: Service, first: ManagedProcess): Promise<void> {
    const { maxRestarts, windowSeconds, signal } = this.options;
    const restarts: number[] = [];
    let backoff = 0;
    let proc: ManagedProcess | undefined = first;
    let why = '';
    for (;;) {
      if (proc) {
        why = await exitReason(proc);
      }
      if (signal.aborted) return;
      const now = Date.now();
      while (restarts.length > 0 && now - restarts[0]! >= windowSeconds * 1000) restarts.shift();
      if (restarts.length >= maxRestarts) {
        const seconds = Math.ceil((now - (restarts[0] ?? now)) / 1000);
        this.options.onCrashLoop(
          `${service.name} is crash-looping (exited ${restarts.length + 1} times in ${seconds}s); see ${service.logFile}. Stopping the stack.`,
        );
        return;
      }
      restarts.push(now);
      const delay = Math.min(FIRST_DELAY_MS * 2 ** backoff++, MAX_DELAY_MS);
      log(
        `${service.name} ${why}; restarting in ${delay / 1000}s (restart ${restarts.length} of ${maxRestarts} in ${windowSeconds}s); log: ${service.logFile}`,
      );
      try {
        await sleep(delay, undefined, { signal });
        proc = await service.start();
        if (signal.aborted) return;
        // It came back and serves: the next crash is a new incident, not this one failing to start again.
        backoff = 0;
        log(`${service.name} is back (pid ${proc.child.pid})`);
      } catch (err) {
        // A shutdown stops a process that is still starting; that is no failure.
        if (signal.aborted) return;
        proc = undefined;
        why = `failed to start (${err instanceof Error ? err.message : String(err)})`;
      }
    }
  }
}

async function exitReason(proc: ManagedProcess): Promise<string> {
  const code = await proc.exited;
  const signal = proc.child.signalCode;
  return `exited (${signal ? `signal ${signal}` : `code ${code}`})`;
}

function log(line: string): void {
  process.stderr.write(`stack: ${line}\n`);
}
