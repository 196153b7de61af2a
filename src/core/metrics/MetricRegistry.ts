// A small Prometheus registry: counters, histograms and scrape-time gauges, rendered in the text
// exposition format 0.0.4. Written here because the daemon needs four metric kinds and no client library.

type Labels = Record<string, string>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const labelKey = (l: Labels) => JSON.stringify(Object.keys(l).sort().map((k) => [k, l[k]]));
function fmtLabels(l: Labels, extra?: [string, string]): string {
  const pairs = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) pairs.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return pairs.length ? `{${pairs.join(',')}}` : '';
}
const fmtNum = (n: number) => (Number.isNaN(n) ? 'NaN' : n === Infinity ? '+Inf' : n === -Infinity ? '-Inf' : String(n));

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  render(): string[] | Promise<string[]>;
}

export class Counter implements Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, { labels: Labels; v: number }>();
  constructor(readonly name: string, readonly help: string) {}

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) return; // counters only go up; a negative or NaN delta is a caller bug, not a metric
    const k = labelKey(labels);
    const e = this.values.get(k);
    if (e) e.v += by;
    else this.values.set(k, { labels, v: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.v ?? 0;
  }

  render(): string[] {
    return [...this.values.values()].map((e) => `${this.name}${fmtLabels(e.labels)} ${fmtNum(e.v)}`);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels, v: number): void {
    const k = labelKey(labels);
    let e = this.values.get(k);
    if (!e) {
      e = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(k, e);
    }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) e.counts[i]! += 1;
    e.sum += v;
    e.count += 1;
  }

  render(): string[] {
    const out: string[] = [];
    for (const e of this.values.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${fmtLabels(e.labels, ['le', fmtNum(b)])} ${e.counts[i]}`));
      out.push(`${this.name}_bucket${fmtLabels(e.labels, ['le', '+Inf'])} ${e.count}`);
      out.push(`${this.name}_sum${fmtLabels(e.labels)} ${fmtNum(e.sum)}`);
      out.push(`${this.name}_count${fmtLabels(e.labels)} ${e.count}`);
    }
    return out;
  }
}

/** A gauge whose samples are computed at scrape time. */
export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect: () => Array<[Labels, number]> | Promise<Array<[Labels, number]>>,
    readonly type: 'gauge' | 'counter' = 'gauge',
  ) {}

  async render(): Promise<string[]> {
    return (await this.collect()).map(([l, v]) => `${this.name}${fmtLabels(l)} ${fmtNum(v)}`);
  }
}

export class MetricRegistry {
  private readonly metrics: Metric[] = [];

  register<M extends Metric>(m: M): M {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }

  /** The text exposition; a collector that fails is skipped (and reported) rather than failing the scrape. */
  async render(onError?: (name: string, err: unknown) => void): Promise<string> {
    const out: string[] = [];
    for (const m of this.metrics) {
      let lines: string[];
      try {
        lines = await m.render();
      } catch (err) {
        onError?.(m.name, err);
        continue;
      }
      out.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`, ...lines);
    }
    return `${out.join('\n')}\n`;
  }
}

/** Parses the text format back into `name{labels}` → value (tests and the soak check use it). */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    out.set(m[1]!, m[2] === '+Inf' ? Infinity : Number(m[2]));
  }
  return out;
}
