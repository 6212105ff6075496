// Metric series with a fixed memory bound: per series the last hour at the
// sampling interval (10 s: 360 points) and the last week as 5-minute averages
// (2016 points), each a ring of two Float64Arrays. Served to the Manager as
// points (the last hour, day or week) and to Prometheus as the latest values
// in its text format.

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
const DAY_MS = 24 * 3600_000;

/** What the Manager's charts can show: the hour ring, or the last day or week of the 5-minute ring. */
export type Range = 'hour' | 'day' | 'week';

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

  /**
   * The 5-minute averages of the last `span` ms, the bucket still filling
   * last (its average so far): a day's chart is not empty for the first
   * 5 minutes after a start, and shows the last minutes as they come.
   */
  averages(span: number): [number, number][] {
    const points = this.week.points();
    if (this.n > 0) points.push([this.bucket * WEEK_STEP_MS, this.sum / this.n]);
    const since = this.lastAt - span;
    return points.filter(([t]) => t > since);
  }
}

export interface MetricInfo {
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  /** For the Manager's charts only, not served to Prometheus (which derives it: a rate, or another family). */
  readonly chartOnly?: boolean;
}

/** A family computed when Prometheus asks (states, counts, the process): no history. */
export interface Family extends MetricInfo {
  readonly name: string;
  readonly samples: readonly { readonly labels: Readonly<Record<string, string>>; readonly value: number }[];
}

/** The series; a series not sampled for `staleMs` (a removed service or instance) is dropped. */
export class MetricsStore {
  private readonly series = new Map<string, Series>();
  private readonly info = new Map<string, MetricInfo>();
  /** Values kept without history (counters for Prometheus): name and labels → value. */
  private readonly latest = new Map<string, { name: string; labels: Readonly<Record<string, string>>; value: number; at: number }>();

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

  /** A value without history (no rings: a counter that only Prometheus reads). */
  setLatest(name: string, labels: Readonly<Record<string, string>>, value: number, time: number): void {
    if (Number.isFinite(value)) this.latest.set(seriesKey(name, labels), { name, labels, value, at: time });
  }

  /** Drops series not set since `now - staleMs`. */
  prune(now: number): void {
    for (const [key, s] of this.series) if (now - s.lastAt > this.staleMs) this.series.delete(key);
    for (const [key, s] of this.latest) if (now - s.at > this.staleMs) this.latest.delete(key);
  }

  /** Every series with its latest value. */
  list(): { name: string; labels: Record<string, string>; value: number; at: number }[] {
    return [...this.series.values()].map((s) => ({ name: s.name, labels: { ...s.labels }, value: s.last, at: s.lastAt }));
  }

  /** Points of one series: the last hour at full resolution, or the last day or week as 5-minute averages. */
  points(name: string, labels: Readonly<Record<string, string>>, range: Range): [number, number][] | null {
    const s = this.series.get(seriesKey(name, labels));
    if (!s) return null;
    return range === 'hour' ? s.hour.points() : s.averages(range === 'day' ? DAY_MS : 7 * DAY_MS);
  }

  /**
   * The latest values in the Prometheus text exposition format (0.0.4), with
   * the families computed now (`live`): one HELP and TYPE per family, no
   * timestamps (Prometheus stamps a scrape itself), the charts' own series left out.
   */
  prometheus(live: readonly Family[] = []): string {
    const byName = new Map<string, { info: MetricInfo | undefined; samples: { labels: Readonly<Record<string, string>>; value: number }[] }>();
    const add = (name: string, info: MetricInfo | undefined, labels: Readonly<Record<string, string>>, value: number) => {
      if (info?.chartOnly) return;
      let family = byName.get(name);
      if (!family) byName.set(name, (family = { info, samples: [] }));
      family.samples.push({ labels, value });
    };
    for (const s of this.series.values()) add(s.name, this.info.get(s.name), s.labels, s.last);
    for (const s of this.latest.values()) add(s.name, this.info.get(s.name), s.labels, s.value);
    for (const family of live) for (const sample of family.samples) add(family.name, family, sample.labels, sample.value);
    const lines: string[] = [];
    for (const [name, { info, samples }] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      if (info) lines.push(`# HELP ${name} ${info.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${info.type}`);
      for (const sample of samples) lines.push(`${name}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
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

/** The shortest text that reads back as the same number: a start time in seconds needs all ten digits, not six. */
function formatValue(value: number): string {
  return String(value);
}
