/**
 * The PNG beside the JSON: throughput per scenario (log scale, orders/s or the unit named in the label),
 * then end-to-end latency p50 and p99 of the open-loop steps (log scale, ms). Values are printed at the
 * end of each bar; the JSON holds every figure.
 */
import { Canvas, type Rgb } from './canvas';
import type { BenchResults, Scenario, System } from './results';

const colors: Record<System, Rgb> = {
  service: [31, 119, 180],
  baseline: [127, 127, 127],
  'noop-local': [214, 39, 40],
  noop: [230, 126, 34],
  classic: [44, 160, 44],
  postgres: [148, 103, 189],
};
const tint = ([r, g, b]: Rgb): Rgb => [r + (255 - r) * 0.55, g + (255 - g) * 0.55, b + (255 - b) * 0.55].map(Math.round) as unknown as Rgb;
const ink: Rgb = [30, 30, 30];
const grey: Rgb = [120, 120, 120];
const grid: Rgb = [225, 225, 225];

const WIDTH = 1200;
const LEFT = 330;
const RIGHT = 1040;
const ROW = 26;
const BAR = 18;

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

class LogAxis {
  readonly lo: number;
  readonly hi: number;

  constructor(values: number[]) {
    const positive = values.filter((v) => v > 0 && Number.isFinite(v));
    this.lo = Math.floor(Math.log10(Math.min(...positive, 1)));
    this.hi = Math.max(this.lo + 1, Math.ceil(Math.log10(Math.max(...positive, 10))));
  }

  x(value: number): number {
    const v = Math.log10(Math.max(value, 10 ** this.lo));
    return LEFT + ((v - this.lo) / (this.hi - this.lo)) * (RIGHT - LEFT);
  }

  draw(canvas: Canvas, top: number, bottom: number): void {
    for (let d = this.lo; d <= this.hi; d++) {
      const x = this.x(10 ** d);
      canvas.rect(x, top, 1, bottom - top, grid);
      const label = d >= 0 ? String(10 ** d) : (10 ** d).toFixed(-d);
      canvas.text(x - Canvas.textWidth(label, 2) / 2, bottom + 4, label, grey);
    }
  }
}

function throughputPanel(canvas: Canvas, top: number, rows: Scenario[]): number {
  canvas.text(20, top, 'THROUGHPUT PER SECOND (LOG SCALE)', ink, 2);
  const first = top + 28;
  const axis = new LogAxis(rows.map((s) => s.ordersPerSec));
  axis.draw(canvas, first - 4, first + rows.length * ROW);
  rows.forEach((s, i) => {
    const y = first + i * ROW;
    canvas.text(20, y + 2, s.short.slice(0, 25), ink);
    const end = axis.x(s.ordersPerSec);
    canvas.rect(LEFT, y, end - LEFT, BAR, colors[s.system]);
    canvas.text(end + 6, y + 2, fmt(s.ordersPerSec), ink);
  });
  return first + rows.length * ROW + 30;
}

function latencyPanel(canvas: Canvas, top: number, rows: Scenario[]): number {
  canvas.text(20, top, 'END-TO-END LATENCY MS, P50 DARK / P99 LIGHT (LOG SCALE)', ink, 2);
  const first = top + 28;
  const axis = new LogAxis(rows.flatMap((s) => [s.p50Ms, s.p99Ms]));
  axis.draw(canvas, first - 4, first + rows.length * ROW);
  rows.forEach((s, i) => {
    const y = first + i * ROW;
    canvas.text(20, y + 2, s.short.slice(0, 25), ink);
    canvas.rect(LEFT, y, axis.x(s.p99Ms) - LEFT, BAR, tint(colors[s.system]));
    canvas.rect(LEFT, y, axis.x(s.p50Ms) - LEFT, BAR, colors[s.system]);
    canvas.text(axis.x(s.p99Ms) + 6, y + 2, `${fmt(s.p50Ms)}/${fmt(s.p99Ms)}`, ink);
  });
  return first + rows.length * ROW + 30;
}

export function renderChart(results: BenchResults): Buffer {
  const throughput = results.scenarios.filter((s) => s.offeredPerSec === null);
  const latency = results.scenarios.filter((s) => s.offeredPerSec !== null);
  const height = 110 + (throughput.length + latency.length) * ROW + 170;
  const canvas = new Canvas(WIDTH, height, [255, 255, 255]);
  const m = results.machine;
  canvas.text(20, 16, `SAGA-ORCHESTRATOR BENCH ${results.startedAt.slice(0, 10)}${results.quick ? ' (QUICK)' : ''}`, ink, 3);
  canvas.text(20, 48, `${m.cpus} CPUS, ${m.memoryGiB} GIB, NODE ${m.node}, LOAD ${m.loadAverageStart[0]} -> ${m.loadAverageEnd?.[0] ?? '?'}`, grey, 2);
  let y = throughputPanel(canvas, 80, throughput);
  y = latencyPanel(canvas, y, latency);
  let x = 20;
  for (const [system, label] of [
    ['service', 'SERVICE'],
    ['baseline', 'BASELINE'],
    ['noop-local', 'NO-OP (LOCAL)'],
    ['noop', 'NO-OP'],
    ['classic', 'CLASSIC'],
    ['postgres', 'POSTGRESQL'],
  ] as const) {
    canvas.rect(x, y, 18, 14, colors[system]);
    canvas.text(x + 24, y, label, ink);
    x += 24 + Canvas.textWidth(label, 2) + 30;
  }
  const r = results.ratios;
  const share = (n: number) => (Number.isFinite(n) ? n.toPrecision(2) : '-');
  canvas.text(20, y + 26, `RATIOS: SERVICE / BASELINE ${share(r.baseline)}   SERVICE / NO-OP (LOCAL) ${share(r.noopCeiling)}`, ink);
  canvas.text(20, y + 48, `SERVICE / CLASSIC ${share(r.classic)}   SERVICE / POSTGRESQL TX ${share(r.pgCeiling)}`, ink);
  return canvas.png();
}
