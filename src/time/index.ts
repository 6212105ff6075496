// Time of day in a time zone (the *Timezone string* setting), without a
// library: Intl gives the wall clock of an instant; the instant of a wall
// clock reading is found by correcting the offset twice (DST-safe).

/** Whether `timeZone` is an IANA zone name this Node knows. */
export function validTimeZone(timeZone: string): boolean {
  if (timeZone === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return true;
  } catch {
    return false;
  }
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock reading of `date` in `timeZone`. */
export function wallClock(date: Date, timeZone: string): Wall {
  // UTC (the default) without Intl: a time zone's first use loads ICU's zone
  // data, measured +8 MB of resident memory.
  if (timeZone === 'UTC') {
    return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: date.getUTCHours(), minute: date.getUTCMinutes(), second: date.getUTCSeconds() };
  }
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formats.set(timeZone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(date).map((p) => [p.type, p.value]));
  return { year: +parts.year!, month: +parts.month!, day: +parts.day!, hour: +parts.hour!, minute: +parts.minute!, second: +parts.second! };
}

/** The first instant at which the wall clock in `timeZone` reads day `ymd` at `hour`:00 (in a DST gap, the hour after). */
export function zonedInstant(ymd: string, hour: number, timeZone: string): Date {
  const [y, m, d] = ymd.split('-').map(Number) as [number, number, number];
  const wallAsUtc = Date.UTC(y, m - 1, d, hour);
  const offset = (t: number) => {
    const w = wallClock(new Date(t), timeZone);
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - t;
  };
  // Two rounds settle the offset, also across a DST change.
  let t = wallAsUtc - offset(wallAsUtc);
  t = wallAsUtc - offset(t);
  const check = wallClock(new Date(t), timeZone);
  if (check.hour < hour && `${check.year}-${pad(check.month)}-${pad(check.day)}` === ymd) t += 3600_000; // the hour did not exist
  return new Date(t);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

export function localDay(date: Date, timeZone: string): string {
  const w = wallClock(date, timeZone);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
}

export function dayBefore(ymd: string): string {
  const [y, m, d] = ymd.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
}

/** Runs `tick` now and then every `ms` (the timer does not keep the process alive); returns the stop. */
export function every(ms: number, tick: () => Promise<void>, onError: (err: unknown) => void): () => void {
  const run = () => void tick().catch(onError);
  run();
  const timer = setInterval(run, ms);
  timer.unref();
  return () => clearInterval(timer);
}
