// What the supervisor keeps about its services across its own restarts, in
// one JSON file on p2 (mnt/sda2/services.json), replaced atomically: the uid
// of each service's account, and the services a person stopped (or that
// failed), which stay down after a restart until started by hand; and the
// limits the administrator set per service.
import { readFileSync } from 'node:fs';
import type { ServiceLimits } from '../cgroup';
import { writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';

/** Why a service stays down at the next start. */
export type Held = { readonly as: 'stopped' } | { readonly as: 'failed'; readonly reason: string };

interface Data {
  accounts: Record<string, number>;
  held: Record<string, Held>;
  limits: Record<string, Partial<ServiceLimits>>;
}

export class Records {
  private data: Data;
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string, private readonly log: Logger, data: Data) {
    this.data = data;
  }

  /** Reads the file; a missing or unreadable one is an empty record (logged). */
  static load(file: string, log: Logger): Records {
    let data: Data = { accounts: {}, held: {}, limits: {} };
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as Partial<Data>;
      data = { accounts: { ...(raw.accounts ?? {}) }, held: { ...(raw.held ?? {}) }, limits: { ...(raw.limits ?? {}) } };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error(`${file} cannot be read (${(err as Error).message}); every service starts`);
    }
    return new Records(file, log, data);
  }

  accounts(): ReadonlyMap<string, number> {
    return new Map(Object.entries(this.data.accounts));
  }

  setAccount(name: string, uid: number | null): Promise<void> {
    const accounts = { ...this.data.accounts };
    if (uid === null) delete accounts[name];
    else accounts[name] = uid;
    return this.save({ ...this.data, accounts });
  }

  held(name: string): Held | null {
    return this.data.held[name] ?? null;
  }

  setHeld(name: string, held: Held | null): Promise<void> {
    const current = this.data.held[name];
    if (held === null ? current === undefined : JSON.stringify(current) === JSON.stringify(held)) return this.writing;
    const all = { ...this.data.held };
    if (held === null) delete all[name];
    else all[name] = held;
    return this.save({ ...this.data, held: all });
  }

  /** The limits set for `name` (only the fields set). */
  limits(name: string): Partial<ServiceLimits> {
    return this.data.limits[name] ?? {};
  }

  /** Replaces the limits set for `name`; an empty object forgets them. */
  setLimits(name: string, limits: Partial<ServiceLimits>): Promise<void> {
    const all = { ...this.data.limits };
    if (Object.keys(limits).length === 0) delete all[name];
    else all[name] = { ...limits };
    return this.save({ ...this.data, limits: all });
  }

  /** Writes in the order of the changes; a failed write is logged (the memory copy stays right for this run). */
  private save(data: Data): Promise<void> {
    this.data = data;
    const text = `${JSON.stringify(data, null, 2)}\n`;
    this.writing = this.writing.then(() => writeFileAtomic(this.file, text)).catch((err) => this.log.error(`cannot write ${this.file}: ${(err as Error).message}`));
    return this.writing;
  }
}
