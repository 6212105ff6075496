// Numbers as people read them on the box's pages. Pure (no DOM): unit-tested
// in Node (test/ui/format.test.ts). Binary units (1 KB = 1024 bytes), as the
// kernel's and the Manager's other figures count them.

const UNITS = ['bytes', 'KB', 'MB', 'GB', 'TB'] as const;

/** "812 bytes", "1.7 KB", "12.3 MB", "245 MB", "1.2 GB": three significant digits at most. */
export function bytes(v: number): string {
  if (!Number.isFinite(v)) return '?';
  if (v < 0) return `−${bytes(-v)}`;
  let i = 0;
  let n = v;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(n)} ${n === 1 ? 'byte' : 'bytes'}`;
  return `${n < 99.95 ? n.toFixed(1) : Math.round(n)} ${UNITS[i]}`;
}

/** A message of the box with its byte counts as people read them: "backed up … (1477 bytes)" → "backed up … (1.4 KB)". */
export function readableSizes(message: string): string {
  return message.replace(/\b(\d+) bytes\b/g, (_, n: string) => bytes(Number(n)));
}

/** Kept for the pages that show memory in MB: "12.3 MB", one decimal below 10 MB. */
export const MB = (v: number) => `${(v / 1048576).toFixed(v < 10 * 1048576 ? 1 : 0)} MB`;

/** A duration in seconds: "0.4 s", "42 s", "3 min 12 s", "5 h 3 min", "4 days 2 h". */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  const unit = d === 1 ? 'day' : 'days';
  return h % 24 ? `${d} ${unit} ${h % 24} h` : `${d} ${unit}`;
}

/** How long ago `iso` (or ms since 1970) was, from `now`: "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(when: string | number, now = Date.now()): string {
  const t = typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t)) return '?';
  const s = (now - t) / 1000;
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  const d = Math.round(s / 86400);
  return `${d} ${d === 1 ? 'day' : 'days'} ago`;
}

/** A share as a percent: "0.4 %", "37 %", "100 %". */
export function percent(part: number, whole: number): string {
  if (!(whole > 0) || !Number.isFinite(part)) return '?';
  const p = (100 * part) / whole;
  return `${p < 10 && p > 0 ? p.toFixed(1) : Math.round(p)} %`;
}

/** A time as the box's pages show it: local date and time to the minute ("2026-12-01 14:05"). */
export function when(iso: string | number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '?';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
