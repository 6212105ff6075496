// The box's backup key: 32 random bytes in one file on the data partition
// (mnt/sda2/backup.key, 0600, written atomically), never in the manager
// database or in a backup it protects, so that it survives image updates and
// a Manager restore on a new box needs nothing from inside the backup. The
// file holds the key as its exported text (`apbk1:…`), so the box's file and
// a copy kept elsewhere are read the same way (`ap ctl backup decrypt
// --key-file`). While a key is set, every backup written is encrypted
// (crypt.ts). The key itself is shown only on export, never logged.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { route, T, type ApiRoute, type Static } from '../api';
import { ApError } from '../errors';
import { fsyncDir, readTextIfExists, writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';
import { keyFingerprint, keyFromText, keyToText, showFingerprint } from './crypt';

/** Whether a key is set, and which (never the key). */
export const KeyView = T.Object({
  set: T.Boolean(),
  fingerprint: T.Union([T.String({ description: 'a keyed hash of the key, hex in groups of four; an encrypted backup carries it too' }), T.Null()]),
});
export type KeyView = Static<typeof KeyView>;

/** The key in `path` (its exported text), or null when there is none; BAD_KEY when the file does not hold one. */
async function readKeyFile(path: string): Promise<Buffer | null> {
  const text = await readTextIfExists(path);
  return text === null ? null : keyOfFile(text, path);
}

/** The key in the text of key file `path`; BAD_KEY naming the file when it holds none. */
export function keyOfFile(text: string, path: string): Buffer {
  try {
    return keyFromText(text);
  } catch (err) {
    throw new ApError('BAD_KEY', `${path} does not hold a backup key: ${(err as Error).message}`);
  }
}

export class BackupKey {
  /** Changes one at a time: a generate and an import at once must not both "succeed". */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {}

  /** The key, or null when none is set (read each time: a change applies to the next backup). */
  read(): Promise<Buffer | null> {
    return readKeyFile(this.path);
  }

  async show(): Promise<KeyView> {
    const key = await this.read();
    return { set: key !== null, fingerprint: key ? showFingerprint(await keyFingerprint(key)) : null };
  }

  /** Makes a new random key; BACKUP_KEY_EXISTS when one is set (replacing it would orphan the backups written with it). */
  generate(): Promise<KeyView> {
    return this.set(randomBytes(32), 'generated');
  }

  /** Sets the key from its exported text; the same key again changes nothing, another one while a key is set is BACKUP_KEY_EXISTS. */
  import(text: string): Promise<KeyView> {
    return this.set(keyFromText(text), 'imported');
  }

  /** The key as text, for safekeeping. */
  async export(): Promise<{ key: string; fingerprint: string }> {
    const key = await this.read();
    if (!key) throw new ApError('BACKUP_KEY_MISSING', 'no backup key is set: generate or import one first');
    return { key: keyToText(key), fingerprint: showFingerprint(await keyFingerprint(key)) };
  }

  /** Removes the key (confirmed): backups are written plain again, and those written with it can be read only with its exported text. */
  remove(confirm: boolean): Promise<KeyView> {
    return this.exclusive(async () => {
      // A damaged key file may go too: it opens nothing.
      const now = await this.show().catch((err: unknown) => {
        if ((err as ApError).code !== 'BAD_KEY') throw err;
        return { set: true, fingerprint: '(unreadable)' };
      });
      if (!now.set) throw new ApError('BACKUP_KEY_MISSING', 'no backup key is set: nothing to remove');
      if (!confirm) {
        throw new ApError('CONFIRM_REQUIRED', `removing backup key ${now.fingerprint} leaves the backups written with it readable only with its exported text (keep it first: ap ctl backup key export); send confirm: true (ap ctl backup key remove --yes)`);
      }
      await rm(this.path, { force: true });
      await fsyncDir(dirname(this.path));
      this.log.warn(`backup key ${now.fingerprint} removed: backups are written unencrypted from now on`);
      return { set: false, fingerprint: null };
    });
  }

  private set(key: Buffer, how: string): Promise<KeyView> {
    return this.exclusive(async () => {
      const now = await this.read();
      const fingerprint = showFingerprint(await keyFingerprint(key));
      if (now?.equals(key)) return { set: true, fingerprint };
      if (now) throw new ApError('BACKUP_KEY_EXISTS', `a backup key is set already (${showFingerprint(await keyFingerprint(now))}): remove it first (export it before, if backups were written with it)`);
      await writeFileAtomic(this.path, `${keyToText(key)}\n`, 0o600);
      this.log.info(`backup key ${fingerprint} ${how}: backups are written encrypted from now on`);
      return { set: true, fingerprint };
    });
  }

  private exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

/** The backup key in the admin API (ap ctl backup key …, the Manager's Backup key card). */
export function keyRoutes(key: BackupKey): ApiRoute[] {
  return [
    route({
      method: 'GET',
      pattern: '/backups/key',
      summary: 'whether a backup key is set (backups are then written encrypted), and its fingerprint; never the key',
      response: KeyView,
      errors: ['BAD_KEY'],
      handler: () => key.show(),
    }),
    route({
      method: 'POST',
      pattern: '/backups/key/generate',
      summary: 'make a new random backup key: every backup written from now on is encrypted with it (export it and keep it safe)',
      response: KeyView,
      errors: ['BACKUP_KEY_EXISTS', 'BAD_KEY'],
      handler: () => key.generate(),
    }),
    route({
      method: 'POST',
      pattern: '/backups/key/import',
      summary: 'set the backup key from its exported text {"key": "apbk1:…"} (a mistyped one is refused by its checksum)',
      body: T.Object({ key: T.String({ description: 'the text ap ctl backup key export printed' }) }, { additionalProperties: false }),
      response: KeyView,
      errors: ['BAD_KEY', 'BACKUP_KEY_EXISTS'],
      handler: ({ body }) => key.import(body.key),
    }),
    route({
      method: 'POST',
      pattern: '/backups/key/export',
      summary: 'the backup key as text ("apbk1:…"), to keep safe away from the box: without it, backups written with it cannot be read on a new box',
      response: T.Object({ key: T.String(), fingerprint: T.String() }),
      errors: ['BACKUP_KEY_MISSING', 'BAD_KEY'],
      handler: () => key.export(),
    }),
    route({
      method: 'POST',
      pattern: '/backups/key/remove',
      summary: 'remove the backup key {"confirm": true}: backups are written unencrypted again; those written with it need its exported text',
      body: T.Object({ confirm: T.Optional(T.Boolean()) }, { additionalProperties: false }),
      response: KeyView,
      errors: ['CONFIRM_REQUIRED', 'BACKUP_KEY_MISSING', 'BAD_KEY'],
      handler: ({ body }) => key.remove(body.confirm === true),
    }),
  ];
}
