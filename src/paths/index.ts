// The state layout under the root (DESIGN.md, "State layout"), the lock that
// keeps two supervisors off one root, and the disk-space reserve file.
import { constants } from 'node:fs';
import { link, open, readdir, readFile, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ApError } from '../errors';
import { ensureDir, writeZeroFileAtomic } from '../fsutil';

export interface Paths {
  readonly root: string;
  /** p1: label, kernel, ramdisk, rootfs image, staged updates, boot settings. */
  readonly boot: string;
  /** p2: databases, apps, logs. */
  readonly data: string;
  readonly pgsql: string;
  readonly apps: string;
  readonly log: string;
  readonly appLogs: string;
  readonly coreDumps: string;
  readonly reserve: string;
  readonly ramdiskLog: string;
  /** The backup key (0600, src/backup/key.ts): on p2, so it survives image updates; never in a backup. */
  readonly backupKey: string;
  readonly home: string;
  readonly standbyConf: string;
  /** Runtime files: the lock and the admin socket. */
  readonly run: string;
  readonly lock: string;
  readonly adminSocket: string;
  /** The webserver's certificate and key, as files for uWS (root only; written from the database at start). */
  readonly tls: string;
}

/** The layout below `root`; pure. */
export function layout(root: string): Paths {
  const at = (...parts: string[]) => join(root, ...parts);
  return Object.freeze({
    root,
    boot: at('mnt/sda1'),
    data: at('mnt/sda2'),
    pgsql: at('mnt/sda2/pgsql'),
    apps: at('mnt/sda2/apps'),
    log: at('mnt/sda2/log'),
    appLogs: at('mnt/sda2/log/apps'),
    coreDumps: at('mnt/sda2/log/core_dumps'),
    reserve: at('mnt/sda2/empty_if_no_space'),
    ramdiskLog: at('mnt/sda2/ramdisk.log'),
    backupKey: at('mnt/sda2/backup.key'),
    home: at('home/root'),
    standbyConf: at('home/root/standby.conf'),
    run: at('var/run'),
    lock: at('var/run/ap.pid'),
    adminSocket: at('var/run/ap.sock'),
    tls: at('var/run/tls'),
  });
}

/** Creates the folders of the layout that are missing. */
export async function createLayout(paths: Paths): Promise<void> {
  // mnt/sda2/pgsql belongs to whoever runs PostgreSQL (the db subsystem or S50postgresql).
  for (const dir of [paths.boot, paths.data, paths.apps, paths.appLogs, paths.coreDumps, paths.home, paths.run]) {
    await ensureDir(dir);
  }
}

/**
 * Scratch on p2: a backup or app package being received (upload-*), a store
 * package being put together (store-*), a package read from the manager
 * database (package-*). Each job removes its own; a power cut in the middle
 * leaves it, so a start removes what a previous run left.
 */
const SCRATCH = /^(upload-|store-|package-)/;

/** Removes the scratch files and folders a cut-off run left on p2; the names removed. */
export async function clearScratch(paths: Paths): Promise<string[]> {
  const left = (await readdir(paths.data)).filter((name) => SCRATCH.test(name));
  for (const name of left) await rm(join(paths.data, name), { recursive: true, force: true });
  return left;
}

export interface Lock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes the root's lock file (var/run/ap.pid) or fails with ALREADY_RUNNING,
 * touching nothing. A lock left by a dead process is taken over.
 */
export async function acquireLock(paths: Paths): Promise<Lock> {
  await ensureDir(paths.run);
  await refuseIfHeld(paths); // before writing anything: a refused start touches nothing
  const temp = `${paths.lock}.${process.pid}`;
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
  await handle.writeFile(`${process.pid}\n`);
  await handle.close();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, paths.lock); // atomic: fails with EEXIST when someone holds it
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
        await refuseIfHeld(paths);
        await rm(paths.lock, { force: true }); // stale: its process is gone
      }
    }
  } finally {
    await rm(temp, { force: true });
  }
  return {
    path: paths.lock,
    async release() {
      if ((await readPid(paths.lock)) === process.pid) await rm(paths.lock, { force: true });
    },
  };
}

async function refuseIfHeld(paths: Paths): Promise<void> {
  const holder = await readPid(paths.lock);
  if (holder !== null && (await isSupervisor(holder))) {
    throw new ApError(
      'ALREADY_RUNNING',
      `a supervisor (pid ${holder}) is already running on ${paths.root}; stop it first, or use another --root`,
    );
  }
}

async function readPid(path: string): Promise<number | null> {
  try {
    const pid = Number.parseInt(await readFile(path, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** True when `pid` is alive and looks like a supervisor (guards against a reused pid). */
async function isSupervisor(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return cmdline.includes('serve');
  } catch {
    return true; // no /proc: trust the signal check
  }
}

export type ReserveState = 'present' | 'created' | 'disabled' | 'no-space';

/**
 * Creates the reserve file (mnt/sda2/empty_if_no_space) when it is missing and
 * the data partition has room for it plus headroom. An emptied file is left
 * alone: a technician emptied it on purpose (the seed's full-disk procedure).
 */
export async function ensureReserve(paths: Paths, bytes: number, options: { readonly replace?: boolean } = {}): Promise<ReserveState> {
  if (bytes === 0) return 'disabled';
  if (!options.replace) {
    try {
      await stat(paths.reserve);
      return 'present';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const fs = await statfs(paths.data);
  const free = fs.bavail * fs.bsize;
  const headroom = Math.max(64 * 1024 ** 2, Math.floor(fs.blocks * fs.bsize * 0.05));
  if (free < bytes + headroom) return 'no-space';
  await writeZeroFileAtomic(paths.reserve, bytes);
  return 'created';
}
