// Durable writes: write `.new`, fsync, rename, fsync the folder; trees fsynced before they are renamed into place.
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Writes `data` to `path` atomically: write `<path>.new`, fsync, rename, fsync
 * the folder. `owner`: the file is another account's (PostgreSQL's) from its
 * first byte on, so that account never meets a file it cannot read.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, owner?: { readonly uid: number; readonly gid: number } | null): Promise<void> {
  return replaceAtomic(path, mode, async (handle) => {
    if (owner) await handle.chown(owner.uid, owner.gid);
    await handle.writeFile(data);
  });
}

/** Makes a file of `size` zero bytes with real blocks (not sparse), atomically. */
export function writeZeroFileAtomic(path: string, size: number, chunkSize = 1 << 20): Promise<void> {
  return replaceAtomic(path, 0o600, async (handle) => {
    const chunk = Buffer.alloc(Math.min(chunkSize, Math.max(size, 1)));
    for (let written = 0; written < size; ) {
      const { bytesWritten } = await handle.write(chunk, 0, Math.min(chunk.length, size - written), written);
      written += bytesWritten;
    }
  });
}

/**
 * Why writeStreamAtomic cannot write `path`, said for the person who named it
 * (a folder, or a folder that is not there), before anything is produced for
 * it; null when it can try. EXISTS and NOT_FOUND are the error codes it fits.
 */
export async function unwritableFile(path: string): Promise<{ readonly code: 'EXISTS' | 'NOT_FOUND'; readonly message: string } | null> {
  const there = await stat(path).catch(() => null);
  if (there?.isDirectory()) return { code: 'EXISTS', message: `${path} is a folder: give the path of the file to write` };
  const folder = dirname(path);
  if (!there && !(await stat(folder).then((s) => s.isDirectory(), () => false))) return { code: 'NOT_FOUND', message: `cannot write ${path}: the folder ${folder} does not exist` };
  return null;
}

/**
 * Writes a stream to `path` as it arrives (`<path>.part`, fsynced, renamed,
 * the folder fsynced: a file with the final name is always complete); returns
 * the bytes written. `onBytes` hears the running total and may throw to stop
 * (the part file is removed).
 */
export async function writeStreamAtomic(source: AsyncIterable<Buffer>, path: string, options: { readonly mode?: number; readonly onBytes?: (total: number) => void } = {}): Promise<number> {
  const part = `${path}.part`;
  let bytes = 0;
  let handle: FileHandle | null = null;
  async function* counting(): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      bytes += chunk.length;
      options.onBytes?.(bytes);
      yield chunk;
    }
  }
  try {
    // A new file of our own: a leftover part (a power cut) or a symlink someone
    // planted in a folder others can write (root decrypting into /tmp) is removed,
    // not written through, and 'wx' (O_EXCL) refuses one that appears meanwhile.
    // Reusing it would write the backup into another file, with that file's mode.
    await rm(part, { force: true });
    // Opened before the stream runs: a stream stopped at once still leaves a file that exists, which the clean-up finds.
    handle = await open(part, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, options.mode ?? 0o600);
    // The stream closes the handle when it ends, however it ends.
    await pipeline(Readable.from(counting()), handle.createWriteStream());
    handle = null;
    const written = await open(part, 'r');
    try {
      await written.sync();
    } finally {
      await written.close();
    }
    await rename(part, path);
    await fsyncDir(dirname(path));
    return bytes;
  } catch (err) {
    await handle?.close().catch(() => {});
    await rm(part, { force: true });
    throw err;
  }
}

/** Fills `<path>.new` with `fill`, fsyncs it and renames it over `path`; on failure removes it. */
async function replaceAtomic(path: string, mode: number, fill: (handle: FileHandle) => Promise<void>): Promise<void> {
  const temp = join(dirname(path), `${basename(path)}.new`);
  await rm(temp, { force: true }); // a leftover from a cut power would keep its old mode
  // O_EXCL: a symlink or file put there after the rm is refused, never written through.
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    await fill(handle);
    await handle.sync();
    await handle.close();
    await rename(temp, path);
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** fsyncs a folder so that a rename or create in it is durable. */
export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs every file and folder below `dir` (and `dir`): a copied tree is on disk before it is renamed into use. */
export async function fsyncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await fsyncTree(path);
    else if (entry.isFile()) {
      const handle = await open(path, constants.O_RDONLY);
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
  await fsyncDir(dir);
}

/** mkdir -p with a mode for the folders it creates. */
export async function ensureDir(path: string, mode = 0o755): Promise<void> {
  await mkdir(path, { recursive: true, mode });
}

