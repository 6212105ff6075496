// The uninstalls decided and not yet done, in one JSON file on p2
// (mnt/sda2/uninstalling.json), replaced atomically. An uninstall writes its
// entry before it changes anything and removes it as its last step: a start
// that finds an entry never loads that service and does the remaining steps
// (each is idempotent), so a power cut at any moment ends as "uninstalled".
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';

/** What an uninstall was asked to do besides removing the service. */
export interface UninstallOptions {
  /** Delete the service's instances too (else an uninstall with instances is refused). */
  readonly instances?: boolean;
  /** Drop the deleted instances' databases and users (else they are kept, as for a deleted instance). */
  readonly dropDatabases?: boolean;
  /** Keep the service's log and crash records. */
  readonly keepLogs?: boolean;
  /**
   * Its package has left the manager database already (a standby following
   * its primary's uninstall): nothing is written there, no instance is touched.
   */
  readonly local?: boolean;
}

/** The steps after which a test may have the supervisor killed (AP_TEST_UNINSTALL_CUT). */
export const UNINSTALL_CUTS = ['decided', 'stopped', 'instances', 'package', 'folder'] as const;
export type UninstallCut = (typeof UNINSTALL_CUTS)[number];

/** The cut a test asked for, or null (unset, or not a step). */
export function uninstallCut(value: string | undefined): UninstallCut | null {
  return (UNINSTALL_CUTS as readonly string[]).includes(value ?? '') ? (value as UninstallCut) : null;
}

export class Intents {
  private data: Record<string, UninstallOptions>;
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string, data: Record<string, UninstallOptions>) {
    this.data = data;
  }

  /** Reads the file; an unreadable one is logged and read as empty (its services then start as installed). */
  static load(file: string, log: Logger): Intents {
    let data: Record<string, UninstallOptions> = {};
    try {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) data = { ...(raw as Record<string, UninstallOptions>) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.error(`${file} cannot be read (${(err as Error).message}); no uninstall is resumed`);
    }
    return new Intents(file, data);
  }

  pending(): ReadonlyMap<string, UninstallOptions> {
    return new Map(Object.entries(this.data));
  }

  has(name: string): boolean {
    return Object.hasOwn(this.data, name);
  }

  /** Records the decision; resolves once it is on disk, and throws when it cannot be (nothing is done then). */
  add(name: string, options: UninstallOptions): Promise<void> {
    return this.save({ ...this.data, [name]: { instances: options.instances === true, dropDatabases: options.dropDatabases === true, keepLogs: options.keepLogs === true, ...(options.local === true ? { local: true } : {}) } });
  }

  remove(name: string): Promise<void> {
    const next = { ...this.data };
    delete next[name];
    return this.save(next);
  }

  private save(data: Record<string, UninstallOptions>): Promise<void> {
    const before = this.data;
    this.data = data;
    const text = `${JSON.stringify(data, null, 2)}\n`;
    const write = this.writing.then(() => writeFileAtomic(this.file, text));
    this.writing = write.catch(() => {});
    return write.catch((err: unknown) => {
      this.data = before;
      throw err;
    });
  }
}
