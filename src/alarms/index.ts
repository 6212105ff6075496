// One alarm model for every subsystem (disk, service crash loop, failed
// backup, certificate expiry; replication later): an alarm is active from
// raise to clear, once per (source, code). Listeners hear each raise and
// clear: the Events app forwarder, the mailer. With a state file (the
// supervisor's: mnt/sda2/alarms.json), active alarms and the cleared history
// survive a restart until cleared: an alarm about something that happened (a
// failed backup) cannot be raised again by looking, and a person must see it.
// Alarms about a condition the supervisor checks again at start (disk,
// database, certificate) are cleared by that check when the cause is gone.
import { JsonStateFile } from '../fsutil';

export { EventsForwarder } from './events';

export { AlarmView, type Alarm, type Severity } from './views';
export { ADVICE, adviceFor } from './advice';
import { adviceFor } from './advice';
import type { Alarm, Severity } from './views';

export interface AlarmEvent {
  readonly type: 'raised' | 'cleared';
  readonly alarm: Alarm;
}

const HISTORY = 200;
export const SEVERITIES: readonly Severity[] = ['critical', 'major', 'minor', 'warning'];

/** What the state file holds. */
interface Stored {
  readonly version: 1;
  readonly next: number;
  readonly active: readonly Alarm[];
  readonly cleared: readonly Alarm[];
}

export class Alarms {
  private readonly activeByKey = new Map<string, Alarm>();
  private readonly past: Alarm[] = [];
  private readonly listeners: ((event: AlarmEvent) => void)[] = [];
  private next = 1;

  constructor(
    private readonly now: () => Date = () => new Date(),
    private readonly file: JsonStateFile | null = null,
  ) {}

  /**
   * Alarms kept in `path` (written atomically after each change). A missing
   * file is an empty start; a corrupt file or entry is reported through
   * `report`, set aside or skipped, and never stops the start.
   */
  static persisted(path: string, report: (message: string) => void, now?: () => Date): Alarms {
    const file = new JsonStateFile(path, report);
    const alarms = new Alarms(now, file);
    alarms.restore(file.read(), file, report);
    return alarms;
  }

  private restore(raw: unknown, file: JsonStateFile, report: (message: string) => void): void {
    if (raw === null) return;
    const data = raw as Partial<Stored>;
    if (typeof raw !== 'object' || data.version !== 1 || !Array.isArray(data.active) || !Array.isArray(data.cleared)) {
      file.setAside('is not an alarm file this supervisor knows');
      return;
    }
    let skipped = 0;
    let maxId = 0;
    for (const entry of data.active) {
      const alarm = checkAlarm(entry, false);
      const key = alarm && `${alarm.source}\u0000${alarm.code}`;
      if (!alarm || this.activeByKey.has(key!)) skipped++;
      else {
        this.activeByKey.set(key!, alarm);
        maxId = Math.max(maxId, alarm.id);
      }
    }
    for (const entry of data.cleared.slice(-HISTORY)) {
      const alarm = checkAlarm(entry, true);
      if (!alarm) skipped++;
      else {
        this.past.push(alarm);
        maxId = Math.max(maxId, alarm.id);
      }
    }
    this.next = Math.max(maxId + 1, Number.isSafeInteger(data.next) && data.next! > 0 ? data.next! : 1);
    if (skipped > 0) {
      report(`${file.path}: ${skipped} alarm ${skipped === 1 ? 'entry was' : 'entries were'} not readable and left out`);
      this.save();
    }
  }

  /** Resolves when every change so far is on disk (at a stop). */
  flush(): Promise<void> {
    return this.file?.flush() ?? Promise.resolve();
  }

  private save(): void {
    this.file?.save({ version: 1, next: this.next, active: [...this.activeByKey.values()], cleared: this.past } satisfies Stored);
  }

  /** Raises (source, code), or updates its text and severity if it is active; listeners hear a raise once. */
  raise(source: string, code: string, severity: Severity, text: string): Alarm {
    const key = `${source}\u0000${code}`;
    const current = this.activeByKey.get(key);
    if (current) {
      if (current.severity === severity && current.text === text) return current;
      // Worse than what was acknowledged is news: it needs a look again.
      const worse = rankOf(severity) < rankOf(current.severity);
      const { acknowledgedAt: _seen, ...rest } = current;
      const updated: Alarm = worse ? { ...rest, severity, text } : { ...current, severity, text };
      this.activeByKey.set(key, updated);
      this.save();
      if (current.severity !== severity) this.emit({ type: 'raised', alarm: updated });
      return updated;
    }
    const alarm: Alarm = { id: this.next++, source, code, severity, text, raisedAt: this.now().toISOString(), clearedAt: null };
    this.activeByKey.set(key, alarm);
    this.save();
    this.emit({ type: 'raised', alarm });
    return alarm;
  }

  /** Clears (source, code) if it is active. */
  clear(source: string, code: string): void {
    const key = `${source}\u0000${code}`;
    const current = this.activeByKey.get(key);
    if (!current) return;
    this.activeByKey.delete(key);
    const cleared = { ...current, clearedAt: this.now().toISOString() };
    this.past.push(cleared);
    if (this.past.length > HISTORY) this.past.shift();
    this.save();
    this.emit({ type: 'cleared', alarm: cleared });
  }

  /**
   * Marks active alarm `id` as seen by a person: it stays active (its cause is
   * not gone) but no longer counts as a problem nobody looks at. Null when no
   * active alarm has that id. Listeners hear nothing: nothing new happened.
   */
  acknowledge(id: number): Alarm | null {
    for (const [key, alarm] of this.activeByKey) {
      if (alarm.id !== id) continue;
      if (alarm.acknowledgedAt) return advised(alarm);
      const seen = { ...alarm, acknowledgedAt: this.now().toISOString() };
      this.activeByKey.set(key, seen);
      this.save();
      return advised(seen);
    }
    return null;
  }

  isActive(source: string, code: string): boolean {
    return this.activeByKey.has(`${source}\u0000${code}`);
  }

  /** Active alarms with what to do, most severe first, then oldest first. */
  active(): Alarm[] {
    return [...this.activeByKey.values()].sort((a, b) => rankOf(a.severity) - rankOf(b.severity) || a.id - b.id).map(advised);
  }

  /** Cleared alarms, newest first (the last HISTORY). */
  history(): Alarm[] {
    return [...this.past].reverse().map(advised);
  }

  onEvent(listener: (event: AlarmEvent) => void): void {
    this.listeners.push(listener);
  }

  private emit(event: AlarmEvent): void {
    const shown = { ...event, alarm: advised(event.alarm) };
    for (const listener of this.listeners) listener(shown);
  }
}

/** 0 for the most severe. */
function rankOf(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** `alarm` as it is shown: with what to do and where, when the table knows its code (never stored: derived each time). */
function advised(alarm: Alarm): Alarm {
  const advice = adviceFor(alarm);
  return advice ? { ...alarm, ...advice } : alarm;
}

/** A stored alarm if `entry` is a well-formed one (cleared or active, as asked), else null. */
function checkAlarm(entry: unknown, cleared: boolean): Alarm | null {
  const a = entry as Record<string, unknown> | null;
  if (typeof a !== 'object' || a === null) return null;
  const time = (v: unknown) => typeof v === 'string' && Number.isFinite(Date.parse(v));
  if (!Number.isSafeInteger(a.id) || (a.id as number) < 1) return null;
  if (typeof a.source !== 'string' || a.source === '' || typeof a.code !== 'string' || a.code === '' || typeof a.text !== 'string') return null;
  if (!SEVERITIES.includes(a.severity as Severity) || !time(a.raisedAt)) return null;
  if (cleared ? !time(a.clearedAt) : a.clearedAt !== null) return null;
  if (a.acknowledgedAt !== undefined && !time(a.acknowledgedAt)) return null;
  const alarm: Alarm = { id: a.id as number, source: a.source, code: a.code, severity: a.severity as Severity, text: a.text, raisedAt: a.raisedAt as string, clearedAt: a.clearedAt as string | null };
  return a.acknowledgedAt === undefined ? alarm : { ...alarm, acknowledgedAt: a.acknowledgedAt as string };
}
