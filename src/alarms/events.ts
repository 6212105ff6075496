// Sends raised and cleared alarms to the Events app (setting *Alarms and
// events → URL*, with its HTTP credentials): one POST of JSON per event, in
// order, from a bounded queue; a failure waits with backoff and tries again,
// so an Events app that was down gets what it missed. Nothing waits for it.
import { describe } from '../errors';
import type { Logger } from '../log';
import { redactUrl } from '../net';
import type { AlarmEvent } from './index';

export interface EventsTarget {
  readonly url: string;
  readonly user: string | null;
  readonly password: string | null;
}

export interface EventsForwarderOptions {
  /** The configured target, or null when none is set (events are then not kept). */
  readonly target: () => Promise<EventsTarget | null>;
  readonly log: Logger;
  /** Who we are, in every event. */
  readonly box: { readonly label: string; readonly host: string };
  readonly maxQueue?: number;
  readonly timeoutMs?: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** The JSON the Events app receives. */
export function eventBody(event: AlarmEvent, box: { label: string; host: string }): Record<string, unknown> {
  const a = event.alarm;
  return {
    mt: event.type === 'raised' ? 'AlarmRaised' : 'AlarmCleared',
    id: a.id,
    source: a.source,
    code: a.code,
    severity: a.severity,
    text: a.text,
    raisedAt: a.raisedAt,
    clearedAt: a.clearedAt,
    box,
  };
}

export class EventsForwarder {
  private readonly queue: AlarmEvent[] = [];
  private pumping = false;
  private stopped = false;
  private dropped = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly options: EventsForwarderOptions) {}

  /** Queues an event (the oldest is dropped, and counted, when the queue is full). */
  push(event: AlarmEvent): void {
    if (this.stopped) return;
    this.queue.push(event);
    if (this.queue.length > (this.options.maxQueue ?? 500)) {
      this.queue.shift();
      this.dropped++;
    }
    if (!this.pumping) void this.pump();
  }

  get pending(): number {
    return this.queue.length;
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    let delay = this.options.minDelayMs ?? 1000;
    try {
      while (this.queue.length > 0 && !this.stopped) {
        let where = 'the Events app (its settings are unreadable)';
        try {
          // The settings live in the database, which may be what the alarm is about: a failed read waits like a failed send.
          const target = await this.options.target();
          if (!target) {
            this.queue.length = 0; // no Events app configured: nothing to keep
            return;
          }
          where = `Events app at ${redactUrl(target.url)}`;
          if (this.dropped > 0) {
            this.options.log.warn(`${this.dropped} alarm events were dropped while the Events app was unreachable (queue full)`);
            this.dropped = 0;
          }
          await this.send(target, this.queue[0]!);
          this.queue.shift();
          delay = this.options.minDelayMs ?? 1000;
        } catch (err) {
          this.options.log.warn(`${where}: ${describe(err)}; ${this.queue.length} events wait, next try in ${Math.round(delay / 1000)} s`);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay);
            timer.unref();
            this.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.wake = null;
          delay = Math.min(delay * 2, this.options.maxDelayMs ?? 300_000);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private async send(target: EventsTarget, event: AlarmEvent): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (target.user) headers.authorization = `Basic ${Buffer.from(`${target.user}:${target.password ?? ''}`).toString('base64')}`;
    const response = await fetch(target.url, {
      method: 'POST',
      headers,
      body: JSON.stringify(eventBody(event, this.options.box)),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new Error(`answered ${response.status}`);
  }
}
