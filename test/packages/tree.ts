// A package folder as comparable data: each entry's kind and mode, and the
// SHA-256 of a file or the target of a link.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    const info = await lstat(full);
    out[full.slice(root.length + 1)] = describeEntry(
      info.isSymbolicLink() ? 'link' : info.isDirectory() ? 'dir' : 'file',
      info.mode,
      info.isSymbolicLink() ? await readlink(full) : info.isFile() ? await sha256(full) : null,
    );
  }
  return out;
}

/** One entry as `tree` shows it; also for rows read from the database. */
export function describeEntry(kind: string, mode: number, detail: string | null): string {
  if (kind === 'link') return `link -> ${detail}`;
  return `${kind} ${(mode & 0o7777).toString(8)}${kind === 'file' ? ` ${detail}` : ''}`;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
