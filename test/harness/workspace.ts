// Temporary folders for tests: world-searchable (PostgreSQL runs as `postgres`
// when the tests run as root), and state roots with a config file.
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A new temporary folder the postgres user can reach. */
export async function workspace(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** Makes `<dir>/root` with `config` as its etc/ap.json; returns the root. */
export async function rootWithConfig(dir: string, config: Record<string, unknown>): Promise<string> {
  const root = join(dir, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/ap.json'), JSON.stringify(config));
  return root;
}

/**
 * A file a backup job cannot write, even as root, although its folder exists
 * (/proc takes no new files): the request is taken (a missing folder is
 * refused before the job starts) and the job fails at the write.
 */
export const UNWRITABLE_FILE = '/proc/ap-unwritable.apbk';
