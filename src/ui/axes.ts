// The axes of the Manager's charts: each scale's extent, its ticks with their
// labels, and the room the labels take, so that no label is clipped and no two
// overlap. Pure (no DOM): the chart passes in how wide a text is drawn;
// unit-tested in Node (test/ui/axes.test.ts).
import { bytes, percent } from './format';

export type Unit = 'bytes' | 'percent' | 'count';
export type Range = 'hour' | 'day' | 'week';
/** How wide `text` is drawn, in CSS pixels. */
export type Measure = (text: string) => number;

export const RANGES: readonly { readonly range: Range; readonly label: string; readonly ms: number }[] = [
  { range: 'hour', label: '1 h', ms: 3600_000 },
  { range: 'day', label: '24 h', ms: 24 * 3600_000 },
  { range: 'week', label: '7 d', ms: 7 * 24 * 3600_000 },
];

export interface Tick {
  readonly value: number;
  readonly label: string;
  /** Where on its axis, 0 (left or bottom) to 1. */
  readonly at: number;
}

export interface Axis {
  readonly min: number;
  readonly max: number;
  readonly ticks: readonly Tick[];
}

/** A value as its chart says it: "1.7 GB", "25 %", "3". */
export function formatValue(unit: Unit, v: number): string {
  if (unit === 'bytes') return bytes(v);
  if (unit === 'percent') return percent(v, 100);
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** What the value axis runs to: a fixed top (a partition's size, 100 % of the cores), or the data's, at least `atLeast`. */
export interface ValueScale {
  readonly unit: Unit;
  readonly top?: number;
  readonly atLeast?: number;
}

/** Room between a value label and its neighbour above, in pixels. */
const ROW = 26;

/** The value axis from 0: nice steps in the unit's own scale (binary for sizes), about one per ROW pixels of `height`. */
export function valueAxis(values: readonly number[], scale: ValueScale, height: number): Axis {
  const highest = Math.max(0, scale.atLeast ?? 0, ...values.filter(Number.isFinite));
  const top = scale.top !== undefined && scale.top > 0 ? scale.top : undefined;
  const intervals = Math.max(1, Math.floor(height / ROW));
  const step = niceStep(Math.max(top ?? highest, smallest(scale.unit)) / intervals, scale.unit);
  const max = top ?? Math.max(step, Math.ceil(highest / step - 1e-9) * step);
  const ticks: Tick[] = [];
  for (let i = 0; i * step <= max * (1 + 1e-9); i++) ticks.push({ value: i * step, label: formatValue(scale.unit, i * step), at: (i * step) / max });
  return { min: 0, max, ticks };
}

/** The smallest top an axis has: nothing but zeros still shows a scale. */
function smallest(unit: Unit): number {
  return unit === 'bytes' ? 1024 : 1;
}

/**
 * The smallest nice step at least `raw`: 1, 2, 2.5 or 5 × 10ⁿ of the unit;
 * sizes in their binary unit (KB, MB, GB: 1000 of one is 1 of the next),
 * counts and bytes in whole numbers.
 */
export function niceStep(raw: number, unit: Unit): number {
  const base = unit === 'bytes' ? 1024 ** Math.max(0, Math.floor(Math.log(Math.max(raw, 1)) / Math.log(1024))) : 1;
  const x = raw / base;
  const power = 10 ** Math.floor(Math.log10(x));
  const whole = unit === 'count' || (unit === 'bytes' && base === 1);
  const step = (whole ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]).map((m) => m * power).find((s) => s >= x - 1e-9)!;
  if (unit === 'bytes' && step >= 1000) return 1024 * base;
  return (whole ? Math.max(1, Math.round(step)) : step) * base;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const STEPS = [10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY];
/** Room between two time labels, in pixels. */
const GAP = 14;

const pad = (n: number) => String(n).padStart(2, '0');

/** A time tick's label in local time: "14:05", "14:05:30" between minutes, the date ("12-01") at midnight. */
export function timeLabel(t: number, step: number): string {
  const d = new Date(t);
  if (step < MINUTE) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.getHours() === 0 && d.getMinutes() === 0) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/**
 * The time axis over [min, max] (ms) drawn `width` pixels wide: the finest
 * step whose labels keep GAP pixels apart, on whole local minutes, hours and
 * days; a label that would stick out more than `left`/`right` pixels beyond
 * the plot is left out rather than clipped or pushed into its neighbour.
 */
export function timeAxis(min: number, max: number, width: number, measure: Measure, room: { left: number; right: number }): Axis {
  const span = Math.max(max - min, 1);
  const widest = (step: number) => Math.max(...(step < MINUTE ? ['00:00:00'] : ['00:00', '12-31']).map(measure));
  const step = STEPS.find((s) => (s / span) * width >= widest(s) + GAP) ?? STEPS[STEPS.length - 1]!;
  const ticks: Tick[] = [];
  for (const t of stepsFrom(min, max, step)) {
    const label = timeLabel(t, step);
    const at = (t - min) / span;
    const half = measure(label) / 2;
    if (at * width - half >= -room.left && at * width + half <= width + room.right) ticks.push({ value: t, label, at });
  }
  return { min, max, ticks };
}

/** The times in [min, max] on whole multiples of `step` from local midnight (whole days for a day or more). */
function stepsFrom(min: number, max: number, step: number): number[] {
  const day = new Date(min);
  day.setHours(0, 0, 0, 0);
  const out: number[] = [];
  if (step >= DAY) {
    for (; day.getTime() <= max; day.setDate(day.getDate() + step / DAY)) if (day.getTime() >= min) out.push(day.getTime());
    return out;
  }
  const midnight = day.getTime();
  for (let t = midnight + Math.ceil((min - midnight) / step) * step; t <= max; t += step) out.push(t);
  return out;
}
