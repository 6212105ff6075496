// A service's stdout and stderr, read within a byte budget per second. Past
// the budget both pipes are paused: the kernel's pipe buffer fills and the
// service blocks in write() until the next second, so a service printing as
// fast as it can costs the supervisor a bounded share of a core (issue 14
// measured ~77 % of one unbounded) and its log rotates at a bounded pace.
// Its channel's `log` messages count too: past the budget with one of them,
// the channel is not read either until the next second.
import type { Readable } from 'node:stream';

/** Bytes of output per second read from one service (both pipes and its log messages together). */
export const OUTPUT_BUDGET = 256 * 1024;

/** What is paused past the budget: a pipe, or the channel. */
interface Pausable {
  pause(): void;
  resume(): void;
}

export class OutputReader {
  private used = 0;
  private windowStart = Date.now();
  private resumeTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly streams: Readable[] = [];
  /** The channel, while paused for this second. */
  private channel: Pausable | null = null;
  /** Seconds in which the budget was reached. */
  throttledSeconds = 0;

  constructor(
    /** Each chunk with the index of the stream it came from, in the order attached. */
    private readonly sink: (chunk: Buffer, from: number) => void,
    /** Told the first time the budget is reached. */
    private readonly onFirstThrottle: () => void,
    private readonly budget = OUTPUT_BUDGET,
  ) {}

  attach(stream: Readable): void {
    const from = this.streams.push(stream) - 1;
    stream.on('data', (chunk: Buffer) => this.take(chunk, from));
  }

  /** The service is gone: what is left in the pipes is read unthrottled, so they reach their end and close. */
  close(): void {
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    this.closed = true;
    this.resumeAll();
  }

  /** A `log` message of `bytes` read from `channel`: past the budget, the channel waits for the next second with the pipes. */
  charge(bytes: number, channel: Pausable): void {
    if (this.closed) return;
    if (this.count(bytes) && this.channel === null) {
      this.channel = channel;
      channel.pause();
    }
  }

  private take(chunk: Buffer, from: number): void {
    if (this.closed) return this.sink(chunk, from);
    this.sink(chunk, from);
    this.count(chunk.length);
  }

  /** Counts `bytes` read; true (and the pipes paused until the next second) past the budget. */
  private count(bytes: number): boolean {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.used = 0;
    }
    this.used += bytes;
    if (this.used < this.budget) return false;
    if (this.resumeTimer) return true;
    if (this.throttledSeconds++ === 0) this.onFirstThrottle();
    for (const stream of this.streams) stream.pause();
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      this.windowStart = Date.now();
      this.used = 0;
      this.resumeAll();
    }, Math.max(1, this.windowStart + 1000 - now));
    return true;
  }

  private resumeAll(): void {
    for (const stream of this.streams) stream.resume();
    this.channel?.resume();
    this.channel = null;
  }
}

/** A line longer than this is written in pieces (a service printing without newlines must not grow our buffer). */
export const MAX_LINE = 16 * 1024;

/**
 * Cuts output into lines, each written with the time it was completed, so a
 * service's log says when as the supervisor's does. A partial line waits for
 * its end (per stream: stdout and stderr never mix within a line), at most
 * MAX_LINE bytes, and is written when the stream ends.
 */
export class LineStamper {
  private readonly partial: (Buffer | null)[] = [];

  constructor(
    private readonly write: (line: string) => void,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A chunk of stream `from`. */
  take(chunk: Buffer, from: number): void {
    let rest = this.partial[from] ? Buffer.concat([this.partial[from]!, chunk]) : chunk;
    this.partial[from] = null;
    for (let nl = rest.indexOf(10); nl >= 0; nl = rest.indexOf(10)) {
      this.line(rest.subarray(0, nl));
      rest = rest.subarray(nl + 1);
    }
    while (rest.length >= MAX_LINE) {
      this.line(rest.subarray(0, MAX_LINE));
      rest = rest.subarray(MAX_LINE);
    }
    // A copy: the chunk's buffer may be a slice of a large pooled one.
    if (rest.length > 0) this.partial[from] = Buffer.from(rest);
  }

  /** A whole line of ours (no newline needed). */
  note(text: string): void {
    for (const line of text.replace(/\n$/, '').split('\n')) this.write(`${this.now().toISOString()} ${line}\n`);
  }

  /** The streams ended: their partial lines are written as they are. */
  flush(): void {
    for (const rest of this.partial) if (rest) this.line(rest);
    this.partial.length = 0;
  }

  private line(bytes: Buffer): void {
    this.write(`${this.now().toISOString()} ${bytes.toString('utf8').replace(/\r$/, '')}\n`);
  }
}
