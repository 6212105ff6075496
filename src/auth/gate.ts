// Who may have a password checked now. An attempt counts against its address
// when it ARRIVES, before the (slow, queued) argon2 check, so a hundred guesses
// sent at once are throttled like a hundred sent one by one; a success clears
// the count. The hash queue is bounded twice: a few checks in flight per
// address (beyond: 429 at once), and a few more overall (beyond: 503 at once).
// So a flood from one address keeps at most PER_ADDRESS checks ahead of a
// login from anywhere else, which is served after those, not after the flood.
import { ApError } from '../errors';
import { LoginThrottle } from '../login';

export interface GateOptions {
  /** Checks in flight for one address. */
  readonly perAddress: number;
  /** Checks in flight overall. */
  readonly total: number;
}

export const DEFAULT_GATE: GateOptions = { perAddress: 2, total: 16 };

/** An admitted attempt: say how it ended, once. */
export interface Attempt {
  succeeded(): void;
  failed(): void;
}

export class LoginGate {
  private readonly inFlight = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly throttle = new LoginThrottle(),
    private readonly options: GateOptions = DEFAULT_GATE,
  ) {}

  /** Whether `remote` is locked out now: a check too cheap for the queue (an API token) asks this first. */
  locked(remote: string, now: number): boolean {
    return this.throttle.locked(remote, now);
  }

  /**
   * Counts a failed cheap check against `remote`, as a wrong password is
   * counted. A good one clears nothing: one valid token must not reset the
   * count of guesses at others.
   */
  failed(remote: string, now: number): void {
    this.throttle.failed(remote, now);
  }

  /** Admits an attempt from `remote`, counted as a failure until it succeeds; or throws TOO_MANY_ATTEMPTS (429) or BUSY (503). */
  admit(remote: string, now: number): Attempt {
    if (this.throttle.locked(remote, now)) throw new ApError('TOO_MANY_ATTEMPTS', 'too many failed attempts from this address; wait a minute');
    const mine = this.inFlight.get(remote) ?? 0;
    if (mine >= this.options.perAddress) throw new ApError('TOO_MANY_ATTEMPTS', 'this address has attempts being checked already; wait for their answer');
    if (this.total >= this.options.total) throw new ApError('BUSY', 'too many passwords are being checked right now; try again in a moment');
    this.throttle.failed(remote, now);
    this.inFlight.set(remote, mine + 1);
    this.total++;
    let done = false;
    const release = () => {
      if (done) return false;
      done = true;
      this.total--;
      const left = (this.inFlight.get(remote) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(remote);
      else this.inFlight.set(remote, left);
      return true;
    };
    return {
      succeeded: () => {
        if (release()) this.throttle.succeeded(remote);
      },
      failed: () => void release(),
    };
  }
}
