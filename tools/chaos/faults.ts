import { setTimeout as sleep } from 'node:timers/promises';
import type { FaultLink } from '../stack/fault-links';
import { networkFaultKinds, toxicOf, type NetworkFaultKind, type Toxic } from '../stack/toxiproxy';
import { findProcesses, type ChaosStack, type ProcessKind } from './stack';

export type ProcessFaultKind = 'kill-worker' | 'restart-postgres' | 'restart-kafka' | 'restart-temporal' | 'stall-temporal' | 'stall-worker';
export const processFaultKinds: ProcessFaultKind[] = ['kill-worker', 'restart-postgres', 'restart-kafka', 'restart-temporal', 'stall-temporal', 'stall-worker'];
export type FaultKind = ProcessFaultKind | NetworkFaultKind;
export const faultKinds: FaultKind[] = [...processFaultKinds, ...networkFaultKinds];
export const isNetworkFault = (kind: FaultKind): kind is NetworkFaultKind => (networkFaultKinds as readonly string[]).includes(kind);

export interface Fault {
  kind: FaultKind;
  /** ISO time the fault was injected. */
  at: string;
  /** The process signalled; for a network fault, the Toxiproxy's. */
  pid: number;
  /** A network fault's link, between the app and the server it names. */
  link?: FaultLink;
  detail?: string;
}

/** Adds and removes toxics on the stack's fault links (tools/stack/fault-links.ts). */
export interface LinkFaults {
  pid: number;
  add(link: FaultLink, toxic: Toxic): Promise<void>;
  remove(link: FaultLink, toxic: string): Promise<void>;
}

/** Which way each kind hurts most: a reply that is slow, never comes or ends slowly; a reset while the client sends. */
/** The blackhole and the reset hit the worker's PostgreSQL link, where a lost reply leaves a commit in doubt. */
const linksOf: Record<NetworkFaultKind, FaultLink[]> = {
  latency: ['api-postgres', 'consumer-temporal'],
  timeout: ['worker-postgres', 'api-temporal'],
  reset_peer: ['worker-postgres', 'consumer-kafka'],
  slow_close: ['worker-temporal', 'api-postgres'],
};

const streamOf: Record<NetworkFaultKind, Toxic['stream']> = { latency: 'downstream', timeout: 'downstream', reset_peer: 'upstream', slow_close: 'downstream' };

export interface FaultOptions {
  /** Whether that worker process polls its task queue yet: only a serving worker is worth killing. */
  isServing: (pid: number) => Promise<boolean>;
  /** How long SIGSTOP holds a process. */
  stallMs: number;
  /** Pause between two of the one-off faults. */
  gapMs: number;
  /** Period of the kill -9 of a worker. */
  killWorkerEveryMs: number;
  /** The processes that run workers, killed in turn: the fleet's, and on the eager layout the API and the consumer too. */
  workerProcesses?: ProcessKind[];
  /** The kinds to inject; the rest are skipped. */
  kinds: FaultKind[];
  /** How long a network fault stays on its links. */
  networkHoldMs: number;
  links?: LinkFaults;
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
    // Each network kind on two links at once; between them the four kinds cover all six links.
    const network = networkFaultKinds.map((kind): [FaultKind, () => Promise<void>] => [kind, () => this.onLinks(kind, linksOf[kind])]);
    const plan: [FaultKind, () => Promise<void>][] = [
      ['restart-postgres', () => this.restart('restart-postgres', 'postgres', 'SIGINT')],
      network[0]!,
      ['stall-worker', () => this.stall('stall-worker', 'worker')],
      network[1]!,
      ['restart-kafka', () => this.restart('restart-kafka', 'kafka', 'SIGTERM')],
      network[2]!,
      ['restart-temporal', () => this.restart('restart-temporal', 'temporal', 'SIGTERM')],
      network[3]!,
      ['stall-temporal', () => this.stall('stall-temporal', 'temporal')],
    ];
    for (const [kind, inject] of plan) {
      if (this.stopped) return;
      if (!this.options.kinds.includes(kind)) continue;
      await sleep(this.options.gapMs);
      await inject();
    }
  }

  /** kill -9 of a worker every few seconds until stop(). */
  async killWorkersPeriodically(): Promise<void> {
    const targets = this.options.workerProcesses ?? ['worker'];
    for (let n = 0; !this.stopped && this.options.kinds.includes('kill-worker'); n++) {
      await sleep(this.options.killWorkerEveryMs);
      if (this.stopped) return;
      const target = targets[n % targets.length]!;
      const [pid] = findProcesses(this.stack.stackPid, target);
      // A worker still starting (bundling) is not killed again: on a slow machine none would ever serve.
      if (pid && (await this.options.isServing(pid).catch(() => false)))
        this.inject('kill-worker', pid, 'SIGKILL', target === 'worker' ? undefined : `SIGKILL ${target}`);
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

  /** The toxic on both links for the hold time, then off again (also when the run stops meanwhile). */
  private async onLinks(kind: NetworkFaultKind, links: FaultLink[]): Promise<void> {
    const faults = this.options.links;
    if (!faults) return;
    const stream = streamOf[kind];
    const name = `chaos-${kind}`;
    const added: FaultLink[] = [];
    try {
      for (const link of links) {
        await faults.add(link, toxicOf(kind, stream, name));
        added.push(link);
        const fault: Fault = { kind, at: new Date().toISOString(), pid: faults.pid, link, detail: `${stream} for ${this.options.networkHoldMs / 1000}s` };
        this.faults.push(fault);
        this.options.log(`fault ${fault.at} ${kind} on ${link} (${fault.detail})`);
      }
      await sleep(this.options.networkHoldMs);
    } finally {
      for (const link of added) await faults.remove(link, name).catch(() => undefined);
    }
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
