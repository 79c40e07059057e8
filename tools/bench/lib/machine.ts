import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineFacts {
  cpus: number;
  model: string;
  memoryGiB: number;
  node: string;
  os: string;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
}

export function machineFacts(): MachineFacts {
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverageStart: loadAverage(),
  };
}

export const loadAverage = (): number[] => os.loadavg().map((l) => Math.round(l * 100) / 100);

/** Resident set size of one process in MiB, from /proc (undefined once it is gone). */
export function rssMiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
