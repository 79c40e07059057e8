/** Where the CPU of a run goes: each of the stack's processes (with its children), the no-op worker, and the bench itself. */
import { findProcesses, type ProcessKind } from '../../chaos/stack';
import { treeCpuSeconds } from './proc-cpu';

const kinds: ProcessKind[] = ['temporal', 'worker', 'api', 'postgres', 'consumer', 'kafka'];

export type CpuSnapshot = Record<string, number>;

export function cpuSnapshot(stackPid: number, extra: Record<string, number> = {}): CpuSnapshot {
  const snapshot: CpuSnapshot = {};
  for (const kind of kinds) snapshot[kind] = findProcesses(stackPid, kind).reduce((sum, pid) => sum + treeCpuSeconds(pid), 0);
  for (const [name, pid] of Object.entries(extra)) snapshot[name] = treeCpuSeconds(pid);
  const own = process.cpuUsage();
  snapshot.bench = (own.user + own.system) / 1e6;
  return snapshot;
}

/** CPU milliseconds per order of each process between two snapshots, and their total. */
export function cpuPerOrderMs(before: CpuSnapshot, after: CpuSnapshot, orders: number): Record<string, number> {
  const perOrder: Record<string, number> = {};
  let total = 0;
  for (const name of Object.keys(after)) {
    const ms = (((after[name] ?? 0) - (before[name] ?? 0)) * 1000) / orders;
    perOrder[name] = Math.round(ms * 10) / 10;
    total += ms;
  }
  perOrder.total = Math.round(total * 10) / 10;
  return perOrder;
}
