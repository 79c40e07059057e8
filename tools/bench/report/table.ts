/** The table the run prints (and the README copies). */
import type { BenchResults } from './results';

const num = (n: number | null | undefined, digits = 1) => (n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));
const share = (n: number) => (Number.isFinite(n) ? n.toPrecision(3) : '-');

function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`).join('\n');
}

export function formatTable(r: BenchResults): string {
  const out: string[] = [];
  const pair = (a: number | null, b: number | null) => (a === null || b === null ? '-' : `${num(a, 0)} / ${num(b, 0)}`);
  const rows = [['scenario', 'rate', 'unit', 'p50 ms', 'p95 ms', 'p99 ms', 'closed p50 / p99', 'accept p50 / p99', 'n']];
  for (const s of r.scenarios) {
    rows.push([
      s.name,
      num(s.ordersPerSec),
      s.unit,
      num(s.p50Ms),
      num(s.p95Ms),
      num(s.p99Ms),
      pair(s.workflowClosedP50Ms, s.workflowClosedP99Ms),
      pair(s.acceptP50Ms, s.acceptP99Ms),
      String(s.count),
    ]);
  }
  const table = columns(rows).split('\n');
  table.splice(1, 0, table[0]!.replace(/[^|]/g, '-'));
  out.push(table.join('\n'), '');
  out.push('ratios (service / reference):');
  out.push(
    `  throughput: service / baseline ${r.ratios.baselineRef ?? '-'} ${share(r.ratios.baseline)} (median of rounds ${(r.ratios.baselineRounds ?? []).map(share).join(', ') || '-'}), service / no-op workflow of its shape ${share(r.ratios.noopCeiling)},` +
      ` service / no-op of the shape before S9 ${share(r.ratios.noopBeforeS9)},`,
  );
  out.push(`             service / classic consumer ${share(r.ratios.classic)}, service orders / PostgreSQL tx ${share(r.ratios.pgCeiling)}`);
  for (const l of r.ratios.latency) {
    out.push(
      `  latency at ${l.step}: to workflow closed, p50 ${share(l.p50VsNoop)}x and p99 ${share(l.p99VsNoop)}x the no-op's;` +
        ` to CONFIRMED row, p50 ${share(l.p50VsClassic)}x and p99 ${share(l.p99VsClassic)}x the classic's`,
    );
  }
  if (r.ratios.layouts) {
    const l = r.ratios.layouts;
    out.push(
      `  layouts: throughput separate ${share(l.separateVsNoop)}x and eager ${share(l.eagerVsNoop)}x the no-op's (eager / separate ${share(l.eagerVsSeparate)}x);` +
        ` POST → CONFIRMED p50 with Prefer: wait ${share(l.waitP50VsPoll)}x (separate) and ${share(l.eagerWaitP50VsPoll)}x (eager, p99 ${share(l.eagerWaitP99VsPoll)}x) the database poll's`,
    );
  }
  if (r.workers?.length) {
    out.push(
      `  workers: ${r.workers.map((w) => `${w.workers} -> ${num(w.ordersPerSec)} orders/s (x${share(r.ratios.workers[String(w.workers)] ?? Number.NaN)}), RSS ${w.workerRssMiB.join('+')} MiB`).join('; ')}`,
    );
  }
  for (const [kind, cpu] of Object.entries(r.cpuPerOrderMs ?? {})) {
    const parts = Object.entries(cpu).filter(([name, ms]) => name !== 'total' && ms >= 0.05);
    out.push(`CPU ms per order, ${kind} max run: ${parts.map(([name, ms]) => `${name} ${ms}`).join(', ')}; total ${cpu.total}`);
  }
  if (r.history) {
    const h = r.history;
    out.push(
      `history per saga: ${h.service.events.mean} events, ${h.service.workflowTasks.mean} workflow tasks, ${h.service.activityTasks.mean} activities` +
        ` (no-op workflow: ${h.noop.events.mean} events, ${h.noop.workflowTasks.mean} workflow tasks, ${h.noop.activityTasks.mean} activities; ${h.service.sampled} sampled each)`,
    );
    const types = [...new Set([...Object.keys(h.service.eventTypes), ...Object.keys(h.noop.eventTypes)])];
    const extra = types
      .map((t) => [t, (h.service.eventTypes[t] ?? 0) - (h.noop.eventTypes[t] ?? 0)] as const)
      .filter(([, d]) => d !== 0)
      .map(([t, d]) => `${t} ${d > 0 ? '+' : ''}${d}`);
    if (extra.length) out.push(`  the saga's history beside the no-op's: ${extra.join(', ')}`);
  }
  if (r.memory) {
    const m = r.memory;
    out.push(
      `memory: ${m.waiting}/${m.requested} manual sagas waiting (after ${m.secondsToWait}s): worker RSS ${num(m.workerRssBeforeMiB, 0)} -> ${num(m.workerRssAfterMiB, 0)} MiB,` +
        ` Temporal dev server ${num(m.temporalRssBeforeMiB, 0)} -> ${num(m.temporalRssAfterMiB, 0)} MiB (worker sticky cache default: ${m.stickyCacheDefault} workflows)`,
    );
    if (m.workerRssAfterMiB !== null && m.workerRssBeforeMiB !== null && m.waiting > 0) {
      out.push(`  worker: +${num(((m.workerRssAfterMiB - m.workerRssBeforeMiB) / m.waiting) * 1000, 0)} MiB per 1,000 waiting sagas`);
    }
  }
  if (r.classicFaults) {
    const f = r.classicFaults;
    out.push(
      `classic consumer under faults (${f.faults.map((x) => `${x.kind} at ${x.atSecond}s`).join(', ')}): ${f.messages} messages, lost ${f.lost}, applied twice ${f.doubled},` +
        ` ledger ${f.ledgerBalanced ? 'balanced' : 'NOT balanced'}, ${f.redeliveredAndDeduped} redeliveries absorbed by processed_messages, ${f.transactionRetries} transaction retries, drained ${f.secondsToDrain}s after the last send`,
    );
    out.push(`  poison message: ${f.poison.processedWithin5s} of the ${f.poison.behind} messages behind it processed within 5 s`);
  }
  const m = r.machine;
  out.push(
    `machine: ${m.cpus} x ${m.model}, ${m.memoryGiB} GiB, ${m.node}, load average ${m.loadAverageStart.join(' ')} at start, ${m.loadAverageEnd?.join(' ') ?? '?'} at end; stack up in ${r.stackStartSeconds}s; run took ${r.durationSeconds ?? '?'}s`,
  );
  for (const note of r.notes) out.push(`note: ${note}`);
  return out.join('\n');
}
