import type { HistoryStats } from '../lib/temporal';
import type { MachineFacts } from '../lib/machine';
import type { RunResult } from '../lib/drive';

export type System = 'service' | 'baseline' | 'noop' | 'noop-local' | 'classic' | 'postgres';

export interface Scenario {
  name: string;
  /** The chart's label. */
  short: string;
  system: System;
  /** Orders (or requests, messages, transactions: see unit) done per second. */
  ordersPerSec: number;
  unit: 'orders/s' | 'requests/s' | 'messages/s' | 'tx/s';
  /** End-to-end latency: POST (or start, or produce) until CONFIRMED (or the reference's equivalent). */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  count: number;
  failed: number;
  offeredPerSec: number | null;
  /** Scheduled send until the workflow closed (open-loop steps of the service and the no-op reference), else null. */
  workflowClosedP50Ms: number | null;
  workflowClosedP99Ms: number | null;
  /** How long the send itself took (POST answered, start acknowledged, produce acknowledged). */
  acceptP50Ms: number | null;
  acceptP99Ms: number | null;
  note?: string;
}

export interface WorkerScale {
  workers: number;
  ordersPerSec: number;
  p50Ms: number;
  p99Ms: number;
  workerRssMiB: number[];
}

export interface MemorySample {
  atSecond: number;
  waiting: number;
  workerRssMiB: number | null;
  temporalRssMiB: number | null;
}

export interface MemoryFigure {
  requested: number;
  waiting: number;
  secondsToWait: number;
  workerRssBeforeMiB: number | null;
  workerRssAfterMiB: number | null;
  temporalRssBeforeMiB: number | null;
  temporalRssAfterMiB: number | null;
  /** The SDK's default sticky-cache size on this machine (from the heap limit): sagas beyond it are evicted, not held. */
  stickyCacheDefault: number;
  /** RSS every 15 s while the sagas were reaching their wait. */
  samples: MemorySample[];
}

export interface ClassicFaults {
  messages: number;
  applied: number;
  lost: number;
  doubled: number;
  ledgerBalanced: boolean;
  redeliveredAndDeduped: number;
  transactionRetries: number;
  faults: { kind: string; atSecond: number }[];
  secondsToDrain: number;
  poison: { behind: number; processedWithin5s: number };
  cannot: string[];
}

export interface BenchResults {
  command: string;
  startedAt: string;
  finishedAt?: string;
  durationSeconds?: number;
  quick: boolean;
  sizes: Record<string, number | string>;
  machine: MachineFacts;
  stackStartSeconds: number;
  scenarios: Scenario[];
  ratios: {
    /** Service orders/s over the no-op workflow's of the saga's current shape: the share of Temporal's own ceiling the service reaches. */
    noopCeiling: number;
    /** Service orders/s over the no-op workflow's of the shape before S9 (five activities on the server). */
    noopBeforeS9: number;
    /** Service orders/s over the same load on the service as it was at `baselineRef` (its own stack, same run). */
    baseline: number;
    baselineRef?: string;
    /** Each alternating round's service / baseline ratio, sorted. */
    baselineRounds?: number[];
    /** Service orders/s over the classic consumer's. */
    classic: number;
    /** Service orders/s over PostgreSQL's versioned UPDATE + ledger INSERT transactions/s. */
    pgCeiling: number;
    /**
     * Per open-loop step, at the same offered rate: the service's start-to-workflow-closed p50/p99 over the
     * no-op workflow's (same end point), and its POST-to-CONFIRMED p50/p99 over the classic consumer's
     * produce-to-row-committed (both read by the same 10 ms database poll).
     */
    latency: { step: string; p50VsNoop: number; p99VsNoop: number; p50VsClassic: number; p99VsClassic: number }[];
    /** Orders/s with N workers over orders/s with one. */
    workers: Record<string, number>;
    /** The eager section: each layout's throughput over the no-op's and each other's; POST → CONFIRMED p50/p99 read from the answer over the database poll's. */
    layouts?: Record<'separateVsNoop' | 'eagerVsNoop' | 'eagerVsSeparate' | 'waitP50VsPoll' | 'eagerWaitP50VsPoll' | 'eagerWaitP99VsPoll', number>;
  };
  history?: { service: HistoryStats; noop: HistoryStats };
  /** CPU ms per order by process during the closed-loop maximum runs (the service's and the no-op reference's). */
  cpuPerOrderMs?: Record<string, Record<string, number>>;
  workers?: WorkerScale[];
  memory?: MemoryFigure;
  classicFaults?: ClassicFaults;
  notes: string[];
}

/** A scenario measured outside the drive loops: the fields only those loops fill stay null. */
export function measuredScenario(
  s: Pick<Scenario, 'name' | 'short' | 'system' | 'ordersPerSec' | 'unit' | 'p50Ms' | 'p95Ms' | 'p99Ms' | 'count'> & Partial<Scenario>,
): Scenario {
  return { failed: 0, offeredPerSec: null, workflowClosedP50Ms: null, workflowClosedP99Ms: null, acceptP50Ms: null, acceptP99Ms: null, ...s };
}

export function scenarioFrom(name: string, short: string, system: System, r: RunResult, note?: string): Scenario {
  return {
    name,
    short,
    system,
    ordersPerSec: r.ordersPerSec,
    unit: 'orders/s',
    p50Ms: r.endToEnd.p50Ms,
    p95Ms: r.endToEnd.p95Ms,
    p99Ms: r.endToEnd.p99Ms,
    count: r.count,
    failed: r.failed,
    offeredPerSec: r.offeredPerSec === null ? null : Math.round(r.offeredPerSec * 10) / 10,
    workflowClosedP50Ms: r.workflowClosed?.p50Ms ?? null,
    workflowClosedP99Ms: r.workflowClosed?.p99Ms ?? null,
    acceptP50Ms: r.accept.p50Ms,
    acceptP99Ms: r.accept.p99Ms,
    ...(note ? { note } : {}),
  };
}
