// Failed logins are counted and slowed per remote address: after a few
// failures an address is locked out for a while that doubles with each further
// failure. Other addresses are not affected. The table is bounded.

export interface ThrottleOptions {
  /** Failures allowed before the lockout starts. */
  readonly freeFailures: number;
  readonly firstLockoutMs: number;
  readonly maxLockoutMs: number;
  /** An address without failures for this long is forgotten. */
  readonly forgetAfterMs: number;
  /** Most addresses remembered; the oldest are dropped first. */
  readonly maxAddresses: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = {
  freeFailures: 5,
  firstLockoutMs: 1000,
  maxLockoutMs: 5 * 60_000,
  forgetAfterMs: 15 * 60_000,
  maxAddresses: 10_000,
};

interface Entry {
  failures: number;
  last: number;
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ThrottleOptions = DEFAULT_THROTTLE) {}

  /** True while `address` is locked out. */
  locked(address: string, now: number): boolean {
    const entry = this.fresh(address, now);
    return entry !== undefined && now < entry.lockedUntil;
  }

  failed(address: string, now: number): void {
    const entry = this.fresh(address, now) ?? { failures: 0, last: now, lockedUntil: 0 };
    entry.failures++;
    entry.last = now;
    const over = entry.failures - this.options.freeFailures;
    if (over >= 0) entry.lockedUntil = now + Math.min(this.options.maxLockoutMs, this.options.firstLockoutMs * 2 ** over);
    this.entries.delete(address); // re-insert: Map order is our age order
    this.entries.set(address, entry);
    if (this.entries.size > this.options.maxAddresses) this.entries.delete(this.entries.keys().next().value!);
  }

  succeeded(address: string): void {
    this.entries.delete(address);
  }

  private fresh(address: string, now: number): Entry | undefined {
    const entry = this.entries.get(address);
    if (entry && now - entry.last > this.options.forgetAfterMs && now >= entry.lockedUntil) {
      this.entries.delete(address);
      return undefined;
    }
    return entry;
  }
}
