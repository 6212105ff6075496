// Disk-full protection for the data partition (p2: PostgreSQL, apps, logs),
// the seed's *Alarms and events → Threshold* and its manual recovery, done by
// the supervisor: 10 points below the threshold an alarm and a mail every 24 h;
// at the threshold every running app service is stopped and a mail goes out
// every hour; below it again (minus a hysteresis) exactly those services start
// again and the alarms clear. When p2 is completely full the reserve file
// (mnt/sda2/empty_if_no_space) is emptied so PostgreSQL can recover; it is made
// again once there is room. While it is empty its size counts as used, so the
// apps do not start into the space meant for the database's recovery.
import { stat, statfs, truncate } from 'node:fs/promises';
import type { Alarms } from '../alarms';
import { describe } from '../errors';
import type { Logger } from '../log';
import type { Mailer } from '../mail';
import { ensureReserve, type Paths } from '../paths';

export interface DiskReading {
  readonly totalBytes: number;
  readonly freeBytes: number;
}

export type DiskLevel = 'ok' | 'warning' | 'critical';

export interface GuardState {
  readonly level: DiskLevel;
  /** Services the guard stopped, to start again. */
  readonly stopped: readonly string[];
  readonly lastMailAt: number | null;
  readonly reserveEmptied: boolean;
}

export type GuardAction =
  | { readonly kind: 'raise'; readonly level: 'warning' | 'critical'; readonly text: string }
  | { readonly kind: 'clear'; readonly level: 'warning' | 'critical' }
  | { readonly kind: 'stop-services' }
  | { readonly kind: 'start-services'; readonly services: readonly string[] }
  | { readonly kind: 'mail'; readonly subject: string; readonly text: string }
  | { readonly kind: 'empty-reserve' }
  | { readonly kind: 'recreate-reserve' };

export const INITIAL_GUARD: GuardState = { level: 'ok', stopped: [], lastMailAt: null, reserveEmptied: false };

export interface GuardPolicy {
  /** Percent of p2 at which the apps stop (the setting). */
  readonly threshold: number;
  /** Points below a level before it is left. */
  readonly hysteresis: number;
  readonly reserveBytes: number;
  readonly warningMailMs: number;
  readonly criticalMailMs: number;
  /** Free bytes below which p2 counts as completely full. */
  readonly fullBytes: number;
}

export const DEFAULT_GUARD_POLICY: Omit<GuardPolicy, 'threshold' | 'reserveBytes'> = {
  hysteresis: 3,
  warningMailMs: 24 * 3600_000,
  criticalMailMs: 3600_000,
  fullBytes: 1024 * 1024,
};

/** Percent used, counting an emptied reserve file as used. */
export function usedPercent(reading: DiskReading, state: GuardState, policy: GuardPolicy): number {
  if (reading.totalBytes <= 0) return 0;
  const used = reading.totalBytes - reading.freeBytes + (state.reserveEmptied ? policy.reserveBytes : 0);
  return Math.min(100, (used / reading.totalBytes) * 100);
}

/** One step of the guard: the next state and what to do. Pure. */
export function diskStep(reading: DiskReading, now: number, state: GuardState, policy: GuardPolicy): { state: GuardState; actions: GuardAction[] } {
  const actions: GuardAction[] = [];
  let next: GuardState = state;

  // The reserve first: it changes what counts as used.
  if (!state.reserveEmptied && policy.reserveBytes > 0 && reading.freeBytes < policy.fullBytes) {
    actions.push({ kind: 'empty-reserve' });
    next = { ...next, reserveEmptied: true };
  } else if (state.reserveEmptied) {
    const margin = Math.max(64 * 1024 * 1024, reading.totalBytes * 0.05);
    if (reading.freeBytes >= policy.reserveBytes + margin) {
      actions.push({ kind: 'recreate-reserve' });
      next = { ...next, reserveEmptied: false };
    }
  }

  const used = usedPercent(reading, next, policy);
  const warnAt = policy.threshold - 10;
  let level: DiskLevel;
  if (used >= policy.threshold || (state.level === 'critical' && used >= policy.threshold - policy.hysteresis)) level = 'critical';
  else if (used >= warnAt || (state.level !== 'ok' && used >= warnAt - policy.hysteresis)) level = 'warning';
  else level = 'ok';
  const shown = `${used.toFixed(1)} %`;

  if (level !== state.level) {
    if (level === 'critical') {
      actions.push({ kind: 'raise', level: 'critical', text: `the data partition is ${shown} full (threshold ${policy.threshold} %): all app services were stopped` });
      actions.push({ kind: 'stop-services' });
      actions.push({ kind: 'mail', subject: `App Platform: disk full (${shown}), apps stopped`, text: criticalText(shown, policy) });
      next = { ...next, level, lastMailAt: now };
    } else {
      if (state.level === 'critical') {
        actions.push({ kind: 'clear', level: 'critical' });
        actions.push({ kind: 'start-services', services: state.stopped });
        next = { ...next, stopped: [] };
      }
      if (level === 'warning') {
        actions.push({ kind: 'raise', level: 'warning', text: `the data partition is ${shown} full; at ${policy.threshold} % all app services stop` });
        if (state.level === 'ok') {
          actions.push({ kind: 'mail', subject: `App Platform: disk space warning (${shown})`, text: warningText(shown, policy) });
          next = { ...next, lastMailAt: now };
        }
      } else {
        actions.push({ kind: 'clear', level: 'warning' });
        next = { ...next, lastMailAt: null };
      }
      next = { ...next, level };
    }
  } else if (level !== 'ok') {
    const every = level === 'critical' ? policy.criticalMailMs : policy.warningMailMs;
    if (state.lastMailAt === null || now - state.lastMailAt >= every) {
      actions.push(
        level === 'critical'
          ? { kind: 'mail', subject: `App Platform: disk still full (${shown}), apps stopped`, text: criticalText(shown, policy) }
          : { kind: 'mail', subject: `App Platform: disk space warning (${shown})`, text: warningText(shown, policy) },
      );
      next = { ...next, lastMailAt: now };
    }
  }
  return { state: next, actions };
}

function warningText(shown: string, policy: GuardPolicy): string {
  return `The data partition of the App Platform is ${shown} full. At ${policy.threshold} % all apps are stopped.\n\nFind large instances by their database size, delete data in them and use "Clean up database" (ap ctl instance cleanup).`;
}

function criticalText(shown: string, policy: GuardPolicy): string {
  return `The data partition of the App Platform is ${shown} full, over the threshold of ${policy.threshold} %: all apps were stopped. They start again by themselves once the use is below ${policy.threshold - policy.hysteresis} %.\n\nFree disk space: delete data in large instances and clean up their databases, or enlarge the disk of a virtual machine.`;
}

export interface DiskGuardOptions {
  readonly paths: Paths;
  readonly reserveBytes: number;
  readonly threshold: () => Promise<number>;
  readonly alarms: Alarms;
  readonly mailer: Mailer;
  readonly services: {
    /** Names of the services running (or starting) now. */
    running(): string[];
    stop(name: string): Promise<void>;
    start(name: string): void;
  };
  readonly log: Logger;
  readonly now?: () => number;
  readonly read?: () => Promise<DiskReading>;
}

/** Applies diskStep to p2 at each check. */
export class DiskGuard {
  private state: GuardState = INITIAL_GUARD;
  private busy = false;

  constructor(private readonly options: DiskGuardOptions) {}

  get current(): GuardState {
    return this.state;
  }

  /** A reserve file emptied before a restart (by us or by a technician) counts as emptied. */
  async init(): Promise<void> {
    if (this.options.reserveBytes === 0) return;
    try {
      const { size } = await stat(this.options.paths.reserve);
      if (size < this.options.reserveBytes) this.state = { ...this.state, reserveEmptied: true };
    } catch {
      // No reserve file (no room for it at start): make it once there is room.
      this.state = { ...this.state, reserveEmptied: true };
    }
  }

  /** One look at the disk; false when one was already under way (this one did nothing). */
  async check(): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      const reading = await (this.options.read ?? (() => readDisk(this.options.paths.data)))();
      const policy: GuardPolicy = { ...DEFAULT_GUARD_POLICY, threshold: await this.options.threshold(), reserveBytes: this.options.reserveBytes };
      const { state, actions } = diskStep(reading, (this.options.now ?? Date.now)(), this.state, policy);
      this.state = state;
      for (const action of actions) await this.apply(action);
      return true;
    } finally {
      this.busy = false;
    }
  }

  private async apply(action: GuardAction): Promise<void> {
    const { alarms, log, paths } = this.options;
    switch (action.kind) {
      case 'raise':
        alarms.raise('disk', action.level === 'critical' ? 'DISK_FULL' : 'DISK_WARNING', action.level === 'critical' ? 'critical' : 'major', action.text);
        log[action.level === 'critical' ? 'error' : 'warn'](action.text);
        return;
      case 'clear':
        alarms.clear('disk', action.level === 'critical' ? 'DISK_FULL' : 'DISK_WARNING');
        return;
      case 'stop-services': {
        const running = this.options.services.running();
        this.state = { ...this.state, stopped: running };
        log.error(`disk full: stopping ${running.join(', ') || 'no'} app services`);
        await Promise.all(running.map((name) => this.options.services.stop(name).catch((err) => log.error(`stopping ${name}: ${describe(err)}`))));
        return;
      }
      case 'start-services':
        log.info(`disk space is back: starting ${action.services.join(', ') || 'no'} app services`);
        for (const name of action.services) this.options.services.start(name);
        return;
      case 'mail':
        this.options.mailer.send({ subject: action.subject, text: action.text });
        return;
      case 'empty-reserve':
        try {
          await stat(paths.reserve);
          await truncate(paths.reserve, 0);
          log.error(`the data partition is completely full: emptied ${paths.reserve} so PostgreSQL can recover`);
          alarms.raise('disk', 'RESERVE_EMPTIED', 'critical', `the data partition was completely full; the ${Math.round(this.options.reserveBytes / 1048576)} MB reserve file was emptied so the database can recover`);
        } catch (err) {
          log.error(`cannot empty the reserve file: ${describe(err)}`);
        }
        return;
      case 'recreate-reserve':
        try {
          // Written beside and renamed over the emptied one: there is always a reserve file.
          const result = await ensureReserve(paths, this.options.reserveBytes, { replace: true });
          log.info(`reserve file ${paths.reserve}: ${result}`);
          if (result === 'created') alarms.clear('disk', 'RESERVE_EMPTIED');
          else this.state = { ...this.state, reserveEmptied: true }; // not yet: try again later
        } catch (err) {
          log.error(`cannot recreate the reserve file: ${describe(err)}`);
          this.state = { ...this.state, reserveEmptied: true };
        }
        return;
    }
  }
}

export async function readDisk(path: string): Promise<DiskReading> {
  const fs = await statfs(path);
  return { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize };
}
