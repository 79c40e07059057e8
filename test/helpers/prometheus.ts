/** One scrape in the Prometheus text format, parsed: families by name with their HELP, TYPE and samples. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

const sampleLine = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const labelPair = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!text) return labels;
  for (let at = 0; at < text.length; at = labelPair.lastIndex) {
    labelPair.lastIndex = at;
    const match = labelPair.exec(text);
    if (!match) throw new Error(`unparsable labels: {${text}}`);
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => families.get(name) ?? families.set(name, { name, samples: [] }).get(name)!;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      if (meta[1] === 'HELP') family(meta[2]!).help = meta[3];
      else family(meta[2]!).type = meta[3];
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = sampleLine.exec(line);
    if (!sample) throw new Error(`unparsable line: ${line}`);
    const name = sample[1]!;
    const histogramPart = /^(.*)_(bucket|sum|count)$/.exec(name);
    const owner = families.has(name) || !histogramPart ? name : histogramPart[1]!;
    family(owner).samples.push({ name, labels: parseLabels(sample[2]), value: Number(sample[3]) });
  }
  return families;
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  return [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** Breaches of the conventions the README promises, as readable lines (empty when there are none). */
export function conventionBreaches(families: Map<string, Family>): string[] {
  const breaches: string[] = [];
  for (const f of families.values()) {
    if (!f.help) breaches.push(`${f.name}: no HELP`);
    if (!f.type) breaches.push(`${f.name}: no TYPE`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) breaches.push(`${f.name}: a counter not named *_total`);
    if (f.type !== 'counter' && f.name.endsWith('_total')) breaches.push(`${f.name}: a ${f.type} named *_total`);
    for (const s of f.samples) {
      const own = f.type === 'histogram' ? [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : [f.name];
      if (!own.includes(s.name)) breaches.push(`${s.name}: a sample outside its family ${f.name}`);
    }
  }
  return breaches;
}
