// Metric series with a fixed memory bound: per series the last hour at the
// sampling interval (10 s: 360 points) and the last week as 5-minute averages
// (2016 points), each a ring of two Float64Arrays. Served to the Manager as
// points and to Prometheus as the latest values in its text format.

export class Ring {
  private readonly times: Float64Array;
  private readonly values: Float64Array;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.times = new Float64Array(capacity);
    this.values = new Float64Array(capacity);
  }

  push(time: number, value: number): void {
    const at = (this.start + this.count) % this.capacity;
    this.times[at] = time;
    this.values[at] = value;
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  get length(): number {
    return this.count;
  }

  /** Oldest first: [time ms, value]. */
  points(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < this.count; i++) {
      const at = (this.start + i) % this.capacity;
      out.push([this.times[at]!, this.values[at]!]);
    }
    return out;
  }
}

export const HOUR_POINTS = 360;
export const WEEK_POINTS = 2016;
export const WEEK_STEP_MS = 5 * 60_000;

class Series {
  readonly hour = new Ring(HOUR_POINTS);
  readonly week = new Ring(WEEK_POINTS);
  last = 0;
  lastAt = 0;
  private bucket = -1;
  private sum = 0;
  private n = 0;

  constructor(
    readonly name: string,
    readonly labels: Readonly<Record<string, string>>,
  ) {}

  add(time: number, value: number): void {
    this.last = value;
    this.lastAt = time;
    this.hour.push(time, value);
    const bucket = Math.floor(time / WEEK_STEP_MS);
    if (bucket !== this.bucket) {
      if (this.n > 0) this.week.push(this.bucket * WEEK_STEP_MS, this.sum / this.n);
      this.bucket = bucket;
      this.sum = 0;
      this.n = 0;
    }
    this.sum += value;
    this.n++;
  }
}

export interface MetricInfo {
  readonly help: string;
  readonly type: 'gauge' | 'counter';
}

/** The series; a series not sampled for `staleMs` (a removed service or instance) is dropped. */
export class MetricsStore {
  private readonly series = new Map<string, Series>();
  private readonly info = new Map<string, MetricInfo>();

  constructor(private readonly staleMs = 2 * 3600_000) {}

  describe(name: string, info: MetricInfo): void {
    this.info.set(name, info);
  }

  set(name: string, labels: Readonly<Record<string, string>>, value: number, time: number): void {
    if (!Number.isFinite(value)) return;
    const key = seriesKey(name, labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = new Series(name, labels)));
    s.add(time, value);
  }

  /** Drops series not set since `now - staleMs`. */
  prune(now: number): void {
    for (const [key, s] of this.series) if (now - s.lastAt > this.staleMs) this.series.delete(key);
  }

  /** Every series with its latest value. */
  list(): { name: string; labels: Record<string, string>; value: number; at: number }[] {
    return [...this.series.values()].map((s) => ({ name: s.name, labels: { ...s.labels }, value: s.last, at: s.lastAt }));
  }

  /** Points of one series: the last hour at full resolution, or the last week as 5-minute averages. */
  points(name: string, labels: Readonly<Record<string, string>>, range: 'hour' | 'week'): [number, number][] | null {
    const s = this.series.get(seriesKey(name, labels));
    if (!s) return null;
    return range === 'hour' ? s.hour.points() : s.week.points();
  }

  /** The latest values in the Prometheus text exposition format (0.0.4). */
  prometheus(): string {
    const byName = new Map<string, Series[]>();
    for (const s of this.series.values()) {
      let list = byName.get(s.name);
      if (!list) byName.set(s.name, (list = []));
      list.push(s);
    }
    const lines: string[] = [];
    for (const [name, list] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      const info = this.info.get(name);
      if (info) lines.push(`# HELP ${name} ${info.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${info.type}`);
      for (const s of list) lines.push(`${name}${formatLabels(s.labels)} ${formatValue(s.last)} ${Math.round(s.lastAt)}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  return `${name}${formatLabels(labels)}`;
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

function formatValue(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(6);
}
