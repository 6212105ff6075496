// Turning the box into a standby while nothing runs: the copy taken by
// pg_basebackup (pgsql.standby) becomes the cluster, the old one waits in
// pgsql.old until the new one answers, the local apps go, standby.conf is
// written. A marker file (pgsql.standby.json, holding the standby.conf to
// write) is the decision: without it a start removes a leftover copy (the
// setup failed or was cut before it decided); with it a start finishes every
// step that is not done yet, each one idempotent.
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe } from '../errors';
import { fsyncDir, readTextIfExists, writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';
import { parseStandbyConf, renderStandbyConf, writeStandbyConf, type StandbyConf } from './standbyconf';

export interface SwapPaths {
  /** The cluster's folder (mnt/sda2/pgsql). */
  readonly pgsql: string;
  /** Installed app services (mnt/sda2/apps). */
  readonly apps: string;
  /** p2 (mnt/sda2): the services' data folders are under appdata/. */
  readonly data: string;
  readonly standbyConf: string;
}

export const scratchOf = (p: Pick<SwapPaths, 'pgsql'>) => `${p.pgsql}.standby`;
export const oldOf = (p: Pick<SwapPaths, 'pgsql'>) => `${p.pgsql}.old`;
export const markerOf = (p: Pick<SwapPaths, 'pgsql'>) => `${p.pgsql}.standby.json`;

/** Decides the switch: from here on every start finishes it. */
export async function writeMarker(p: SwapPaths, conf: StandbyConf): Promise<void> {
  await writeFileAtomic(markerOf(p), renderStandbyConf(conf), 0o600);
}

/** What a start found and did. */
export type SwapOutcome = 'none' | 'removed-copy' | 'swapped';

/**
 * Run at the start, before the cluster starts: finishes a decided switch
 * (apps removed, folders swapped, standby.conf written) or removes the copy of
 * one that was not decided. `completeSwap` follows once the new cluster answers.
 */
export async function finishSwap(p: SwapPaths, log: Logger, stopOld: (dataDir: string) => Promise<void> = async () => {}): Promise<SwapOutcome> {
  const scratch = scratchOf(p);
  const old = oldOf(p);
  const markerText = await readTextIfExists(markerOf(p));
  let conf: StandbyConf | null = null;
  if (markerText !== null) {
    try {
      conf = parseStandbyConf(markerText);
    } catch (err) {
      log.error(`${markerOf(p)} is unreadable (${describe(err)}): the switch to standby is abandoned`);
    }
    // A marker without its copy, and no old cluster: the swap is long done (only the marker's removal was cut) or never had a copy.
    if (conf && !(await exists(scratch)) && !(await exists(old)) && !(await exists(join(p.pgsql, 'standby.signal')))) conf = null;
  }
  if (conf === null) {
    if (markerText !== null) await rm(markerOf(p), { force: true });
    if (!(await exists(scratch))) return 'none';
    await rm(scratch, { recursive: true, force: true });
    log.info(`removed ${scratch}, the copy of a standby setup that did not finish (this box stays as it was)`);
    return 'removed-copy';
  }
  log.info(`switching to standby of ${conf.primary.host}:${conf.primary.port} as ${conf.name}: removing the local apps, putting the copy in place`);
  const removed = await removeLocalApps(p);
  if (removed.length > 0) log.info(`removed the locally installed app services: ${removed.join(', ')}`);
  if (await exists(scratch)) {
    // Two renames; a cut between them leaves pgsql.old and pgsql.standby and no pgsql, which this finishes.
    // A supervisor killed after the decision left the old cluster running: it must not run on in pgsql.old.
    if (await exists(p.pgsql)) await stopOld(p.pgsql);
    if ((await exists(p.pgsql)) && !(await exists(old))) await rename(p.pgsql, old);
    else if (await exists(p.pgsql)) await rm(p.pgsql, { recursive: true, force: true });
    await rename(scratch, p.pgsql);
    await fsyncDir(dirname(p.pgsql));
  }
  await writeStandbyConf(p.standbyConf, { ...conf, promote: undefined } as StandbyConf);
  return 'swapped';
}

/** The new cluster answers in recovery: the old one and the marker go (the marker last). */
export async function completeSwap(p: SwapPaths, log: Logger): Promise<void> {
  if (!(await exists(markerOf(p))) && !(await exists(oldOf(p)))) return;
  await rm(oldOf(p), { recursive: true, force: true });
  await rm(markerOf(p), { force: true });
  await fsyncDir(dirname(p.pgsql));
  log.info('this box is a standby now: the previous cluster is removed');
}

/** Removes every installed app service's folder and data (not the supervisor's own package, not the logs); the names removed. */
async function removeLocalApps(p: SwapPaths): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(p.apps, { withFileTypes: true }).catch(() => [])) {
    if (!entry.isDirectory() || entry.name === 'manager' || entry.name.startsWith('manager.')) continue;
    await rm(join(p.apps, entry.name), { recursive: true, force: true });
    if (!entry.name.startsWith('.')) removed.push(entry.name);
  }
  for (const entry of await readdir(join(p.data, 'appdata')).catch(() => [] as string[])) await rm(join(p.data, 'appdata', entry), { recursive: true, force: true });
  await fsyncDir(p.apps).catch(() => {});
  return removed;
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}
