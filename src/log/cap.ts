// Files that other writers append to and no one rotates: the supervisor's own
// stdout and stderr when an init script sends them to a file (manager.out:
// Node's fatal errors, warnings), and PostgreSQL's log when its init script
// runs it (`pg_ctl -l`, S50postgresql). Past the cap such a file is copied to
// `<file>.1` and truncated in place: the writers open it for appending
// (O_APPEND: the shell's `>>`, pg_ctl's too), so they go on at its new start
// and it never holds more than the cap and a minute's growth. What a writer
// adds between the copy and the truncation is lost: the price of not owning
// the writer, paid once per cap.
import { copyFile, readFile, readlink, stat, truncate } from 'node:fs/promises';
import type { Logger } from './index';

const CHECK_EVERY_MS = 60_000;

/** Copies `file` to `<file>.1` and empties it when it holds more than `maxBytes`; whether it did. */
export async function capFile(file: string, maxBytes: number): Promise<boolean> {
  const size = (await stat(file).catch(() => null))?.size ?? 0;
  if (size <= maxBytes) return false;
  await copyFile(file, `${file}.1`);
  await truncate(file, 0);
  return true;
}

const O_APPEND = 0o2000;

/**
 * The files our stdout and stderr append to: none when they are a terminal
 * or a pipe, nor a file opened without O_APPEND (`>`, not `>>`), which a
 * truncation would leave sparse.
 */
export async function ownOutputFiles(proc = '/proc/self'): Promise<string[]> {
  const files = new Set<string>();
  for (const fd of [1, 2]) {
    try {
      const target = await readlink(`${proc}/fd/${fd}`);
      const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(await readFile(`${proc}/fdinfo/${fd}`, 'latin1'))?.[1] ?? '0', 8);
      if (target.startsWith('/') && flags & O_APPEND && (await stat(target)).isFile()) files.add(target);
    } catch {
      // closed, or not a file
    }
  }
  return [...files];
}

/** Checks `files()` every minute; stop() ends it. */
export function capFiles(files: () => Promise<string[]>, maxBytes: number, log: Logger): { stop(): void } {
  const check = async () => {
    for (const file of await files()) {
      try {
        if (await capFile(file, maxBytes)) log.info(`${file} grew past ${maxBytes} bytes: moved to ${file}.1`);
      } catch (err) {
        log.warn(`cannot cap ${file}: ${(err as Error).message}`);
      }
    }
  };
  const timer = setInterval(() => void check(), CHECK_EVERY_MS);
  timer.unref();
  void check();
  return { stop: () => clearInterval(timer) };
}
