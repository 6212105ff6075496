// A package folder into the manager database and back, chunk by chunk: a file
// is read and written CHUNK_BYTES at a time and never held whole, so a 256 MB
// box can store and restore the largest package (the store's MAX_PACKAGE).
import { createHash, type Hash } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, sep } from 'node:path';
import type { Sql } from 'postgres';
import { ApError } from '../errors';

/** Bytes per row of package_chunks (the schema allows up to 1 MiB). */
export const CHUNK_BYTES = 256 * 1024;

/** What a stored package says of itself: its app.json's name, version and build label. */
export interface PackageIdentity {
  readonly name: string;
  readonly version: string;
  readonly label: string;
}

/** A package in the manager database. */
export interface StoredPackage {
  readonly service: string;
  readonly version: string;
  readonly label: string;
  readonly files: number;
  readonly bytes: number;
}

interface Entry {
  readonly path: string;
  readonly kind: 'dir' | 'file' | 'link';
  readonly mode: number;
  readonly size: number;
  readonly target: string | null;
}

export interface StoreOptions {
  /** The largest package (the store's MAX_PACKAGE). */
  readonly maxBytes: number;
  /** Told the bytes stored or read so far, after each chunk; awaited. */
  readonly onBytes?: (bytes: number) => void | Promise<void>;
}

/** The packages in the database, by service. */
export async function storedPackages(sql: Sql): Promise<StoredPackage[]> {
  const rows = await sql<{ service: string; version: string; label: string; files: number; bytes: string }[]>`
    SELECT service, version, label, files, bytes::text FROM packages ORDER BY service`;
  return rows.map((r) => ({ ...r, bytes: Number(r.bytes) }));
}

/**
 * Replaces the stored package of `pkg.name` by the folder `dir`, in one
 * transaction: a reader sees the old package or the new one, never a mix, and
 * a failure leaves the old one.
 */
export async function storePackage(sql: Sql, dir: string, pkg: PackageIdentity, options: StoreOptions): Promise<StoredPackage> {
  const entries = await listTree(dir);
  const total = entries.reduce((sum, e) => sum + e.size, 0);
  if (total > options.maxBytes) throw new ApError('PACKAGE_TOO_LARGE', `the package is ${total} bytes (at most ${options.maxBytes}); nothing was installed`);
  let stored = 0;
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  await sql.begin(async (tx) => {
    // An update is still the installer's service if it was (migration 6).
    const [was] = await tx<{ by_installer: boolean }[]>`DELETE FROM packages WHERE service = ${pkg.name} RETURNING by_installer`;
    await tx`INSERT INTO packages (service, version, label, files, bytes, by_installer) VALUES (${pkg.name}, ${pkg.version}, ${pkg.label}, ${entries.length}, ${total}, ${was?.by_installer ?? false})`;
    for (const entry of entries) {
      let sha256: string | null = null;
      let size = 0;
      if (entry.kind === 'file') {
        const hash = createHash('sha256');
        const handle = await open(join(dir, entry.path), 'r');
        try {
          for (let seq = 0; ; seq++) {
            // One buffer for every chunk: each insert is sent and answered before the next read fills it.
            const { bytesRead } = await handle.read({ buffer, position: size });
            if (bytesRead === 0) break;
            const chunk = buffer.subarray(0, bytesRead);
            hash.update(chunk);
            await tx`INSERT INTO package_chunks (service, path, seq, bytes) VALUES (${pkg.name}, ${entry.path}, ${seq}, ${chunk})`;
            size += bytesRead;
            stored += bytesRead;
            if (stored > total) throw changed(stored, total);
            await options.onBytes?.(stored);
          }
        } finally {
          await handle.close();
        }
        sha256 = hash.digest('hex');
      }
      await tx`
        INSERT INTO package_files (service, path, kind, mode, size, sha256, target)
        VALUES (${pkg.name}, ${entry.path}, ${entry.kind}, ${entry.mode}, ${size}, ${sha256}, ${entry.target})`;
    }
    if (stored !== total) throw changed(stored, total);
  });
  return { service: pkg.name, version: pkg.version, label: pkg.label, files: entries.length, bytes: total };
}

/** A file grew or shrank while it was read (ours are sealed; a folder given by hand may not be). */
const changed = (stored: number, total: number) => new ApError('INSTALL_FAILED', `the package changed while it was stored (${stored} bytes read, ${total} listed)`);

/** Records that the App Installer installed `service` (its stored package): the installer may uninstall it again. */
export async function markByInstaller(sql: Sql, service: string): Promise<void> {
  const rows = await sql`UPDATE packages SET by_installer = true WHERE service = ${service} RETURNING service`;
  if (rows.length === 0) throw new ApError('NOT_FOUND', `${service} has no stored package to mark as the App Installer's`);
}

/** Whether the App Installer installed `service` (false for one the administrator installed, or none). */
export async function byInstaller(sql: Sql, service: string): Promise<boolean> {
  const [row] = await sql<{ by_installer: boolean }[]>`SELECT by_installer FROM packages WHERE service = ${service}`;
  return row?.by_installer ?? false;
}

/** Removes the stored package of `service` (its uninstall); false when there was none. */
export async function deletePackage(sql: Sql, service: string): Promise<boolean> {
  const rows = await sql`DELETE FROM packages WHERE service = ${service} RETURNING service`;
  return rows.length > 0;
}

/**
 * Writes the stored package of `service` into the new folder `into` (made
 * here; its parent must exist), every file checked against its size and
 * SHA-256. Read in one snapshot: a package replaced meanwhile comes out
 * whole, as it was. Answers what was written, or null when none is stored.
 * On failure `into` may hold part of it: the caller removes it.
 */
export async function readPackage(sql: Sql, service: string, into: string, options: StoreOptions): Promise<StoredPackage | null> {
  return sql.begin('isolation level repeatable read read only', async (tx) => {
    const [pkg] = await tx<{ version: string; label: string; files: number; bytes: string }[]>`
      SELECT version, label, files, bytes::text FROM packages WHERE service = ${service}`;
    if (!pkg) return null;
    const damaged = (why: string) => new ApError('INSTALL_FAILED', `the stored package of ${service} is damaged: ${why}`);
    if (Number(pkg.bytes) > options.maxBytes) throw damaged(`it is ${pkg.bytes} bytes (at most ${options.maxBytes})`);
    await mkdir(into, { mode: 0o700 });
    const dirs: { path: string; mode: number }[] = [];
    const links: { path: string; target: string }[] = [];
    let entries = 0;
    let written = 0;
    /** The file being written: its rows come one chunk each, in order. */
    let file: { row: string; path: string; handle: FileHandle; hash: Hash; size: number; next: number; expect: { size: number; sha256: string; mode: number } } | null = null;
    let current: string | null = null;
    const finish = async (): Promise<void> => {
      if (!file) return;
      const done = file;
      file = null;
      await done.handle.close();
      if (done.size !== done.expect.size || done.hash.digest('hex') !== done.expect.sha256) throw damaged(`${done.row} does not match its size and SHA-256`);
      await chmod(join(into, done.path), done.expect.mode & 0o7777);
    };
    try {
      const rows = tx<Row[]>`
        SELECT f.path, f.kind, f.mode, f.size::text, f.sha256, f.target, c.seq, c.bytes
          FROM package_files f LEFT JOIN package_chunks c USING (service, path)
         WHERE f.service = ${service}
         ORDER BY f.path COLLATE "C", c.seq`.cursor(1);
      for await (const [row] of rows) {
        if (!row) continue;
        if (row.path !== current) {
          await finish();
          current = row.path;
          entries++;
          const path = checkPath(row.path, service);
          if (row.kind === 'dir') {
            await mkdir(join(into, path), { recursive: true, mode: 0o700 });
            dirs.push({ path, mode: row.mode });
          } else if (row.kind === 'link' && row.target !== null) {
            links.push({ path, target: row.target });
          } else if (row.kind === 'file' && row.sha256 !== null) {
            await mkdir(dirname(join(into, path)), { recursive: true, mode: 0o700 });
            // wx: never through a link, never over something already there.
            const handle = await open(join(into, path), 'wx', 0o600);
            file = { row: row.path, path, handle, hash: createHash('sha256'), size: 0, next: 0, expect: { size: Number(row.size), sha256: row.sha256, mode: row.mode } };
          } else throw damaged(`${row.path} is of unknown kind ${row.kind}`);
        }
        if (row.bytes === null) continue;
        if (!file || row.seq !== file.next) throw damaged(`${row.path} has a chunk out of place (${row.seq})`);
        file.hash.update(row.bytes);
        file.size += row.bytes.length;
        written += row.bytes.length;
        if (file.size > file.expect.size || written > options.maxBytes) throw damaged(`${row.path} is longer than its size`);
        await file.handle.write(row.bytes);
        file.next++;
        await options.onBytes?.(written);
      }
      await finish();
    } finally {
      await (file as { handle: FileHandle } | null)?.handle.close().catch(() => {});
    }
    if (entries !== pkg.files) throw damaged(`it lists ${pkg.files} entries and holds ${entries}`);
    // Links last, so that no file is written through one; folders deepest first, each after its content is in.
    for (const link of links) await symlink(link.target, join(into, link.path));
    dirs.sort((a, b) => b.path.split(sep).length - a.path.split(sep).length);
    for (const dir of dirs) await chmod(join(into, dir.path), dir.mode & 0o7777);
    await chmod(into, 0o755);
    return { service, version: pkg.version, label: pkg.label, files: entries, bytes: written };
  });
}

interface Row {
  path: string;
  kind: string;
  mode: number;
  size: string;
  sha256: string | null;
  target: string | null;
  seq: number | null;
  bytes: Buffer | null;
}

/** A stored path as a safe relative one: the rows may come from a Manager backup. */
function checkPath(path: string, service: string): string {
  const segments = path.split('/');
  if (isAbsolute(path) || path.includes('\0') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ApError('INSTALL_FAILED', `the stored package of ${service} holds the path ${JSON.stringify(path.slice(0, 200))}, which is not inside its folder`);
  }
  return segments.join(sep);
}

/** Every folder, file and link below `dir` (relative paths with "/", sorted); anything else is refused. */
async function listTree(dir: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const walk = async (at: string, prefix: string): Promise<void> => {
    for (const name of (await readdir(at)).sort()) {
      const full = join(at, name);
      const path = prefix + name;
      const info = await lstat(full);
      const mode = info.mode & 0o7777;
      if (info.isDirectory()) {
        entries.push({ path, kind: 'dir', mode, size: 0, target: null });
        await walk(full, `${path}/`);
      } else if (info.isFile()) entries.push({ path, kind: 'file', mode, size: info.size, target: null });
      else if (info.isSymbolicLink()) entries.push({ path, kind: 'link', mode, size: 0, target: await readlink(full) });
      else throw new ApError('BAD_PACKAGE', `the package holds a special file (${path}): only files, folders and links can be installed`);
    }
  };
  await walk(dir, '');
  return entries;
}
