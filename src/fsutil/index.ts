// File writes that survive a power cut: a file is either the old one or the
// new one, never half of each. Every file that must survive goes through here.
import { constants } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Writes `data` to `path` atomically: write `<path>.new`, fsync, rename, fsync the folder. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = join(dirname(path), `${basename(path)}.new`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, path);
  await fsyncDir(dirname(path));
}

/** Makes a file of `size` zero bytes with real blocks (not sparse), atomically. */
export async function writeZeroFileAtomic(path: string, size: number, chunkSize = 1 << 20): Promise<void> {
  const temp = join(dirname(path), `${basename(path)}.new`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  try {
    const chunk = Buffer.alloc(Math.min(chunkSize, Math.max(size, 1)));
    for (let written = 0; written < size; ) {
      const length = Math.min(chunk.length, size - written);
      const { bytesWritten } = await handle.write(chunk, 0, length, written);
      written += bytesWritten;
    }
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, path);
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

/** mkdir -p with a mode for the folders it creates. */
export async function ensureDir(path: string, mode = 0o755): Promise<void> {
  await mkdir(path, { recursive: true, mode });
}
