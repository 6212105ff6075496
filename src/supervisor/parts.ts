// The one lifecycle of the supervisor's parts: each is started by a function
// that returns it, and its stop is remembered with it. They stop in exactly
// the reverse order of their start, each stop bounded in time, and a stop that
// fails or hangs does not keep the ones below it from stopping.
import { ApError, describe } from '../errors';
import type { Logger } from '../log';

/** Thrown by start() once a stop was asked for: the start goes no further. */
export class StopDuringStart extends ApError {
  constructor() {
    super('STOPPED', 'stopped while starting');
  }
}

interface Started {
  readonly name: string;
  readonly stop: () => Promise<void> | void;
}

export class Parts {
  private readonly started: Started[] = [];
  private stopAsked = false;

  constructor(
    private readonly log: Logger,
    /** How long one part may take to stop. */
    private readonly stopTimeoutMs: number,
  ) {}

  /** A stop was asked for: start() refuses from now on. */
  askStop(): void {
    this.stopAsked = true;
  }

  get stopping(): boolean {
    return this.stopAsked;
  }

  /**
   * Starts part `name` and remembers `stop` for it. A stop asked for while it
   * started stops it at once (it is remembered first) and throws StopDuringStart.
   */
  async start<T>(name: string, start: () => Promise<T> | T, stop?: (part: T) => Promise<void> | void): Promise<T> {
    if (this.stopAsked) throw new StopDuringStart();
    const part = await start();
    if (stop) this.started.push({ name, stop: () => stop(part) });
    if (this.stopAsked) throw new StopDuringStart();
    return part;
  }

  /** Remembers a stop for something made without start() (a timer): it runs in its place in the reverse order. */
  onStop(name: string, stop: () => Promise<void> | void): void {
    this.started.push({ name, stop });
  }

  /** The names of the parts started, in order. */
  get names(): string[] {
    return this.started.map((s) => s.name);
  }

  /** Stops every part in reverse order; resolves with the number that failed or did not stop in time. */
  async stopAll(): Promise<number> {
    this.stopAsked = true;
    let failed = 0;
    while (this.started.length > 0) {
      const { name, stop } = this.started.pop()!;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), this.stopTimeoutMs);
      });
      try {
        const outcome = await Promise.race([Promise.resolve().then(stop), late]);
        if (outcome === 'late') {
          failed++;
          this.log.error(`stopping ${name} took longer than ${Math.round(this.stopTimeoutMs / 1000)} s; going on with the rest`);
        }
      } catch (err) {
        failed++;
        this.log.error(`stopping ${name} failed: ${describe(err)}`);
      } finally {
        clearTimeout(timer);
      }
    }
    return failed;
  }
}
