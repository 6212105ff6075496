// `ap ctl backup …` and `ap ctl restore …`: the admin API's backup resources.
// Files are resolved against the current folder and handed to the supervisor
// as absolute paths. `backup decrypt` alone runs here, without the
// supervisor: a technician's tool for an encrypted backup and its key.
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { decrypted, isEncrypted, keyFromText, keyOfFile } from '../backup';
import { BACKUP_SWITCHES, BACKUP_VALUE_FLAGS } from '../cli';
import { ApError, UsageError } from '../errors';
import { unwritableFile, writeStreamAtomic } from '../fsutil';
import type { ApiCall } from './instances';

const USAGE = `ap ctl backup instance <id> (--file F | --url U [--method PUT|POST])
ap ctl backup manager (--file F | --url U [--method PUT|POST])
ap ctl backup verify <file> [--restore-test]
ap ctl backup run | schedule
ap ctl backup key show | generate | import [--key-file F] | export | remove --yes
ap ctl backup decrypt <in> <out> [--key-file F | --key-stdin] [--force]
ap ctl restore instance <file> [--name N] [--domain D] [--path P] [--db-name N] [--db-user U] [--replace]
ap ctl restore manager <file>`;

/** The API call for `ap ctl backup|restore <sub> [arg] --flags`. */
export function backupCall(command: 'backup' | 'restore', sub: string | undefined, arg: string | undefined, flags: Readonly<Record<string, string>>, switches: ReadonlySet<string>, cwd: string): ApiCall {
  const used = (allowed: readonly string[]) => {
    for (const name of [...Object.keys(flags), ...switches]) {
      if ([...BACKUP_VALUE_FLAGS, ...BACKUP_SWITCHES, 'path', 'db-name', 'db-user'].includes(name as never) && !allowed.includes(name)) {
        throw new UsageError(`--${name} does not go with "ap ctl ${command} ${sub}"`);
      }
    }
  };
  const target = (): Record<string, string> => {
    if ((flags.file === undefined) === (flags.url === undefined)) throw new UsageError(`give --file or --url\n\n${USAGE}`);
    if (flags.file !== undefined) return { file: resolve(cwd, flags.file) };
    return { url: flags.url!, ...(flags.method ? { method: flags.method } : {}) };
  };
  const needArg = (what: string) => {
    if (arg === undefined) throw new UsageError(`ap ctl ${command} ${sub} needs ${what}\n\n${USAGE}`);
    return arg;
  };
  if (command === 'backup') {
    switch (sub) {
      case 'instance':
        used(['file', 'url', 'method']);
        return { method: 'POST', path: `/backups/instances/${encodeURIComponent(needArg('an instance (name@domain)'))}`, body: target() };
      case 'manager':
        used(['file', 'url', 'method']);
        return { method: 'POST', path: '/backups/manager', body: target() };
      case 'verify':
        used(['restore-test']);
        return { method: 'POST', path: '/backups/verify', body: { file: resolve(cwd, needArg('a backup file')), restoreTest: switches.has('restore-test') } };
      case 'run':
        used([]);
        return { method: 'POST', path: '/backups/run' };
      case 'schedule':
        used([]);
        return { method: 'GET', path: '/backups/schedule' };
      case 'key':
        used(['yes']);
        if (arg === undefined || arg === 'show') return { method: 'GET', path: '/backups/key' };
        if (arg === 'generate' || arg === 'export') return { method: 'POST', path: `/backups/key/${arg}` };
        if (arg === 'remove') return { method: 'POST', path: '/backups/key/remove', body: { confirm: switches.has('yes') } };
        break;
    }
  } else {
    switch (sub) {
      case 'instance': {
        used(['name', 'domain', 'path', 'db-name', 'db-user', 'replace']);
        const body: Record<string, unknown> = { file: resolve(cwd, needArg('a backup file')) };
        for (const [flag, field] of [['name', 'name'], ['domain', 'domain'], ['path', 'path'], ['db-name', 'dbName'], ['db-user', 'dbUser']] as const) {
          if (flags[flag] !== undefined) body[field] = flags[flag];
        }
        if (flags.replace !== undefined) {
          // The instance to overwrite is named, never implied by the file: "--replace" alone used to mean the file's.
          if (flags.replace.startsWith('-') || !flags.replace.includes('@')) throw new UsageError(`--replace needs the instance to overwrite, name@domain (got "${flags.replace}")\n\n${USAGE}`);
          body.replace = flags.replace;
        }
        return { method: 'POST', path: '/restores/instances', body };
      }
      case 'manager':
        used([]);
        return { method: 'POST', path: '/restores/manager', body: { file: resolve(cwd, needArg('a backup file')) } };
    }
  }
  throw new UsageError(USAGE);
}

/** `ap ctl backup key import`: the key's text from --key-file or stdin, never from the command line (ps would show it). */
export async function keyImportCall(flags: Readonly<Record<string, string>>, cwd: string, stdin: () => Promise<string>): Promise<ApiCall> {
  for (const name of Object.keys(flags)) {
    if ((BACKUP_VALUE_FLAGS as readonly string[]).includes(name) && name !== 'key-file') throw new UsageError(`--${name} does not go with "ap ctl backup key import"`);
  }
  if (flags['key-file'] === undefined) return { method: 'POST', path: '/backups/key/import', body: { key: keyText(await stdin(), 'stdin') } };
  const path = resolve(cwd, flags['key-file']);
  const text = await keyFileText(path).catch((err: Error) => {
    throw err instanceof ApError ? err : new UsageError(`cannot read the key file ${path}: ${err.message}`);
  });
  if (text === null) throw new UsageError(`cannot read the key file ${path}: there is no such file`);
  return { method: 'POST', path: '/backups/key/import', body: { key: text } };
}

/** A key's text is one line (ap ctl backup key export): more is not a key (another file, /dev/zero) and is not read on into memory. */
const KEY_TEXT_MAX = 4096;

/** `text` if a key could be that long; else BAD_KEY, saying where it came from. */
function keyText(text: string, from: string): string {
  if (Buffer.byteLength(text) > KEY_TEXT_MAX) throw new ApError('BAD_KEY', `${from} holds more than ${KEY_TEXT_MAX} bytes: not a backup key (ap ctl backup key export prints one line)`);
  return text;
}

/** The text of a key file, read no further than a key can be; null when there is no such file. */
async function keyFileText(path: string): Promise<string | null> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (!handle) return null;
  try {
    const buffer = Buffer.alloc(KEY_TEXT_MAX + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    return keyText(buffer.subarray(0, bytesRead).toString('utf8'), path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EISDIR') throw new ApError('BAD_KEY', `${path} is a folder, not a key file`);
    throw err;
  } finally {
    await handle.close();
  }
}

export interface DecryptRequest {
  readonly input: string;
  readonly output: string;
  /** The exported key's text in a file, or on stdin; else the box's own key file. */
  readonly keyFile?: string;
  readonly keyStdin?: () => Promise<string>;
  readonly boxKeyFile: string;
  readonly force: boolean;
}

/**
 * `ap ctl backup decrypt`: the plain backup file (the format-2 file pg_restore
 * reads) from an encrypted one, written as <out>.part and renamed only once
 * every chunk authenticated; nothing is left on a wrong key or damage.
 */
export async function decryptBackup(r: DecryptRequest): Promise<{ output: string; bytes: number }> {
  if (r.input === r.output) throw new UsageError('ap ctl backup decrypt writes a new file: give an output path other than the input');
  const start = await readStart(r.input);
  if (!isEncrypted(start)) throw new ApError('BAD_BACKUP', `${r.input} is not an encrypted backup: it is read (pg_restore, ap ctl restore) as it is`);
  await checkOutput(r.output, r.force);
  const key = await decryptionKey(r);
  const bytes = await writeStreamAtomic(decrypted(key, createReadStream(r.input, { highWaterMark: 1024 * 1024 }), r.input), r.output);
  return { output: r.output, bytes };
}

/** Refuses an output that is a folder, in a folder that is not, or there (unless forced): said plainly, before the key is read. */
async function checkOutput(output: string, force: boolean): Promise<void> {
  const unwritable = await unwritableFile(output);
  if (unwritable) throw new ApError(unwritable.code, unwritable.message);
  if (!force && (await stat(output).then(() => true, () => false))) throw new ApError('EXISTS', `${output} exists: give another path, or --force to replace it`);
}

async function readStart(path: string): Promise<Buffer> {
  const handle = await open(path, 'r').catch((err: Error) => {
    throw new ApError('BAD_BACKUP', `cannot read ${path}: ${err.message}`);
  });
  try {
    const buffer = Buffer.alloc(8);
    const { bytesRead } = await handle.read(buffer, 0, 8, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function decryptionKey(r: DecryptRequest): Promise<Buffer> {
  if (r.keyFile !== undefined && r.keyStdin) throw new UsageError('give --key-file or --key-stdin, not both');
  if (r.keyStdin) return keyFromText(keyText(await r.keyStdin(), 'stdin'));
  const path = r.keyFile ?? r.boxKeyFile;
  const text = await keyFileText(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EACCES') throw new ApError('BACKUP_KEY_MISSING', `cannot read ${path} (${r.keyFile ? 'permission denied' : "the box's backup key: run as root"}), or give the exported key with --key-file F or --key-stdin`);
    throw err;
  });
  if (text === null) throw new ApError('BACKUP_KEY_MISSING', r.keyFile ? `no key file ${path}` : `this box has no backup key (${path}): give the exported key with --key-file F or --key-stdin`);
  return keyOfFile(text, path);
}
