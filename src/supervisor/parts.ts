// The one lifecycle of the supervisor's parts: a part is made and started by
// a function that returns it once it runs, and stopped by its own `stop()`.
// They stop in exactly the reverse order of their start, each within its own
// bound, and a stop that fails or hangs does not keep the ones below it from
// stopping.
import { ApError, describe } from '../errors';
import type { Logger } from '../log';

/** Thrown by start() once a stop was asked for: the start goes no further. */
export class StopDuringStart extends ApError {
  constructor() {
    super('STOPPED', 'stopped while starting');
  }
}

/** What every part of the supervisor is once started: something that stops. */
export interface Part {
  stop(): Promise<void>;
}

export interface PartOptions {
  /** How long its stop may take (the default bound when not said). */
  readonly stopWithinMs?: number;
}

interface Started {
  readonly name: string;
  readonly stop: () => Promise<void> | void;
  readonly withinMs: number;
}

export class Parts {
  private readonly started: Started[] = [];
  private stopAsked = false;

  constructor(
    private readonly log: Logger,
    /** How long a part may take to stop unless it says otherwise. */
    private readonly defaultStopMs: number,
  ) {}

  /** A stop was asked for: start() refuses from now on. */
  askStop(): void {
    this.stopAsked = true;
  }

  get stopping(): boolean {
    return this.stopAsked;
  }

  /**
   * Makes and starts part `name`, and remembers it to stop. A stop asked for
   * while it started stops it at once (it is remembered first) and throws StopDuringStart.
   */
  async start<P extends Part>(name: string, make: () => Promise<P> | P, options: PartOptions = {}): Promise<P> {
    if (this.stopAsked) throw new StopDuringStart();
    const part = await make();
    this.started.push({ name, stop: () => part.stop(), withinMs: options.stopWithinMs ?? this.defaultStopMs });
    if (this.stopAsked) throw new StopDuringStart();
    return part;
  }

  /** Remembers a stop for what is not a part (the state lock, a timer): it runs in its place in the reverse order. */
  onStop(name: string, stop: () => Promise<void> | void, options: PartOptions = {}): void {
    this.started.push({ name, stop, withinMs: options.stopWithinMs ?? this.defaultStopMs });
  }

  /** The names of the parts started, in order. */
  get names(): string[] {
    return this.started.map((s) => s.name);
  }

  /** The longest the stop of everything started can take: the sum of the bounds. */
  get stopBoundMs(): number {
    return this.started.reduce((sum, s) => sum + s.withinMs, 0);
  }

  /** Stops every part in reverse order; resolves with the number that failed or did not stop in time. */
  async stopAll(): Promise<number> {
    this.stopAsked = true;
    let failed = 0;
    while (this.started.length > 0) {
      const { name, stop, withinMs } = this.started.pop()!;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), withinMs);
      });
      try {
        const outcome = await Promise.race([Promise.resolve().then(stop), late]);
        if (outcome === 'late') {
          failed++;
          this.log.error(`stopping ${name} took longer than ${Math.round(withinMs / 1000)} s; going on with the rest`);
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
