// A service's stdout and stderr, read within a byte budget per second. Past
// the budget both pipes are paused: the kernel's pipe buffer fills and the
// service blocks in write() until the next second, so a service printing as
// fast as it can costs the supervisor a bounded share of a core (issue 14
// measured ~77 % of one unbounded) and its log rotates at a bounded pace.
import type { Readable } from 'node:stream';

/** Bytes of output per second read from one service (both pipes together). */
export const OUTPUT_BUDGET = 256 * 1024;

export class OutputReader {
  private used = 0;
  private windowStart = Date.now();
  private resumeTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly streams: Readable[] = [];
  /** Seconds in which the budget was reached. */
  throttledSeconds = 0;

  constructor(
    private readonly sink: (chunk: Buffer) => void,
    /** Told the first time the budget is reached. */
    private readonly onFirstThrottle: () => void,
    private readonly budget = OUTPUT_BUDGET,
  ) {}

  attach(stream: Readable): void {
    this.streams.push(stream);
    stream.on('data', (chunk: Buffer) => this.take(chunk));
  }

  /** The service is gone: what is left in the pipes is read unthrottled, so they reach their end and close. */
  close(): void {
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    this.closed = true;
    for (const stream of this.streams) stream.resume();
  }

  private take(chunk: Buffer): void {
    if (this.closed) return this.sink(chunk);
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.used = 0;
    }
    this.used += chunk.length;
    this.sink(chunk);
    if (this.used < this.budget || this.resumeTimer) return;
    if (this.throttledSeconds++ === 0) this.onFirstThrottle();
    for (const stream of this.streams) stream.pause();
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      this.windowStart = Date.now();
      this.used = 0;
      for (const stream of this.streams) stream.resume();
    }, Math.max(1, this.windowStart + 1000 - now));
  }
}
