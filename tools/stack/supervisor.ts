import { setTimeout as sleep } from 'node:timers/promises';
import { exitReason, noteInLog, type ManagedProcess } from './servers';

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
  /** Each watched service's process as it runs now (a restart replaces it); absent while it is down. */
  private readonly live = new Map<string, ManagedProcess>();

  constructor(private readonly options: SupervisorOptions) {}

  /** Every watched process that runs now, by service name. */
  current(): ReadonlyMap<string, ManagedProcess> {
    return this.live;
  }

  /** Watches a process that is already up. */
  watch(service: Service, proc: ManagedProcess): void {
    void this.supervise(service, proc);
  }

  /**
   * Starts a service under watch from its first start on: one that dies before it serves is started
   * again, as after any other exit. Resolves once it first serves; rejects if it never does (a crash loop,
   * or the stack stopping).
   */
  run(service: Service): Promise<ManagedProcess> {
    return new Promise((resolve, reject) => void this.supervise(service, undefined, { resolve, reject }));
  }

  private async supervise(service: Service, first: ManagedProcess | undefined, firstUp?: Settle): Promise<void> {
    const { maxRestarts, windowSeconds, signal } = this.options;
    const restarts: number[] = [];
    let backoff = 0;
    let proc: ManagedProcess | undefined = first;
    let why = '';
    // Settling firstUp again after the first time is a no-op.
    const giveUp = (reason: string) => firstUp?.reject(new Error(`${service.name} did not start: ${reason}`));
    if (!proc) {
      try {
        proc = await service.start();
        firstUp?.resolve(proc);
      } catch (err) {
        why = `failed to start (${err instanceof Error ? err.message : String(err)})`;
      }
    }
    for (;;) {
      if (proc) this.live.set(service.name, proc);
      if (proc) why = await exitReason(proc);
      this.live.delete(service.name);
      if (signal.aborted) return giveUp('the stack is stopping');
      const now = Date.now();
      while (restarts.length > 0 && now - restarts[0]! >= windowSeconds * 1000) restarts.shift();
      if (restarts.length >= maxRestarts) {
        const seconds = Math.ceil((now - (restarts[0] ?? now)) / 1000);
        if (proc) noteInLog(proc, { exit: why }, `${service.name} ${why}; crash-looping: not restarted`);
        this.options.onCrashLoop(
          `${service.name} is crash-looping (exited ${restarts.length + 1} times in ${seconds}s; last ${why}); see ${service.logFile}. Stopping the stack.`,
        );
        return giveUp('crash-looping');
      }
      restarts.push(now);
      const delay = Math.min(FIRST_DELAY_MS * 2 ** backoff++, MAX_DELAY_MS);
      const line = `${service.name} ${why}; restarting in ${delay / 1000}s (restart ${restarts.length} of ${maxRestarts} in ${windowSeconds}s)`;
      if (proc) noteInLog(proc, { exit: why }, line);
      log(`${line}; log: ${service.logFile}`);
      try {
        await sleep(delay, undefined, { signal });
        proc = await service.start();
        if (signal.aborted) return giveUp('the stack is stopping');
        // It came back and serves: the next crash is a new incident, not this one failing to start again.
        backoff = 0;
        log(`${service.name} is back (pid ${proc.child.pid})`);
        firstUp?.resolve(proc);
      } catch (err) {
        // A shutdown stops a process that is still starting; that is no failure.
        if (signal.aborted) return giveUp('the stack is stopping');
        proc = undefined;
        why = `failed to start (${err instanceof Error ? err.message : String(err)})`;
      }
    }
  }
}

interface Settle {
  resolve: (proc: ManagedProcess) => void;
  reject: (err: Error) => void;
}

function log(line: string): void {
  process.stderr.write(`stack: ${line}\n`);
}
