// One alarm model for every subsystem (disk, service crash loop, failed
// backup, certificate expiry; replication later): an alarm is active from
// raise to clear, once per (source, code). Listeners hear each raise and
// clear: the Events app forwarder, the mailer. In memory: subsystems raise
// again what still holds after a restart.

export type Severity = 'critical' | 'major' | 'minor' | 'warning';

export interface Alarm {
  readonly id: number;
  /** Who raises it, e.g. "disk", "service:echo", "backup:app@example.com", "tls". */
  readonly source: string;
  /** Stable, e.g. DISK_FULL, CRASH_LOOP, BACKUP_FAILED, CERT_EXPIRING. */
  readonly code: string;
  readonly severity: Severity;
  readonly text: string;
  readonly raisedAt: string;
  readonly clearedAt: string | null;
}

export interface AlarmEvent {
  readonly type: 'raised' | 'cleared';
  readonly alarm: Alarm;
}

const HISTORY = 200;

export class Alarms {
  private readonly activeByKey = new Map<string, Alarm>();
  private readonly past: Alarm[] = [];
  private readonly listeners: ((event: AlarmEvent) => void)[] = [];
  private next = 1;

  constructor(private readonly now: () => Date = () => new Date()) {}

  /** Raises (source, code), or updates its text and severity if it is active; listeners hear a raise once. */
  raise(source: string, code: string, severity: Severity, text: string): Alarm {
    const key = `${source}\u0000${code}`;
    const current = this.activeByKey.get(key);
    if (current) {
      if (current.severity === severity && current.text === text) return current;
      const updated = { ...current, severity, text };
      this.activeByKey.set(key, updated);
      if (current.severity !== severity) this.emit({ type: 'raised', alarm: updated });
      return updated;
    }
    const alarm: Alarm = { id: this.next++, source, code, severity, text, raisedAt: this.now().toISOString(), clearedAt: null };
    this.activeByKey.set(key, alarm);
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
    this.emit({ type: 'cleared', alarm: cleared });
  }

  isActive(source: string, code: string): boolean {
    return this.activeByKey.has(`${source}\u0000${code}`);
  }

  /** Active alarms, most severe first, then oldest first. */
  active(): Alarm[] {
    const rank: Record<Severity, number> = { critical: 0, major: 1, minor: 2, warning: 3 };
    return [...this.activeByKey.values()].sort((a, b) => rank[a.severity] - rank[b.severity] || a.id - b.id);
  }

  /** Cleared alarms, newest first (the last HISTORY). */
  history(): Alarm[] {
    return [...this.past].reverse();
  }

  onEvent(listener: (event: AlarmEvent) => void): void {
    this.listeners.push(listener);
  }

  private emit(event: AlarmEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
