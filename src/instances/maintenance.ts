// Database maintenance, as the seed describes it: "Clean up database" per
// instance (vacuumdb -f: frees the space of deleted rows, locks the tables
// while it runs, needs free space) and the nightly analyse (vacuumdb -a -z,
// statistics only) once a day at the *Database optimization time* hour, local
// time of the *Timezone string* setting, plus a random offset of up to seven
// hours chosen once per day. The schedule is a pure function of the clock and
// a small persisted state, so it runs once per day across restarts and clock jumps.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { settingDefault, type Settings } from '../db';
import { dayBefore, every, localDay, validTimeZone, zonedInstant } from '../time';

export { wallClock, zonedInstant } from '../time';
import { ApError, describe } from '../errors';
import type { JobControl } from '../jobs';
import type { Logger } from '../log';
import type { Instance } from '../records';

// --- vacuumdb ---

export interface VacuumTarget {
  /** Folder with the PostgreSQL client programs. */
  readonly bin: string;
  readonly cluster: { readonly socketDir: string; readonly port: number };
}

/** Runs vacuumdb with `args`; lines of its output go to `onLine`; resolves with the exit code and the last lines. */
function vacuumdb(bin: string, args: readonly string[], env: Record<string, string>, onLine: (line: string) => void, signal?: AbortSignal): Promise<{ code: number; tail: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, 'vacuumdb'), args, {
      signal, // the supervisor stopping ends it (its server-side work is cancelled with its connection)
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', PGCONNECT_TIMEOUT: '10', ...env },
    });
    const tail: string[] = [];
    const read = (stream: NodeJS.ReadableStream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const line of lines) {
          tail.push(line);
          if (tail.length > 20) tail.shift();
          onLine(line);
        }
      });
    };
    read(child.stdout!);
    read(child.stderr!);
    child.once('error', (err) =>
      reject(signal?.aborted ? new ApError('CANCELLED', 'vacuumdb was stopped: the supervisor is stopping') : new ApError('VACUUMDB_MISSING', `cannot run ${join(bin, 'vacuumdb')}: ${err.message}`)),
    );
    child.once('close', (code) => resolve({ code: code ?? 1, tail }));
  });
}

/**
 * "Clean up database": vacuumdb -f on the database the instance uses (the
 * external one when configured). Reports each table as it goes.
 */
export async function cleanupDatabase(target: VacuumTarget, instance: Instance, job: JobControl): Promise<string> {
  const e = instance.external;
  const args = e
    ? ['-f', '-v', '-h', e.host, '-p', String(e.port), '-U', e.user, '-d', e.name]
    : ['-f', '-v', '-h', target.cluster.socketDir, '-p', String(target.cluster.port), '-U', 'postgres', '-d', instance.dbName];
  const env: Record<string, string> = e ? { PGPASSWORD: e.password, PGSSLMODE: 'prefer' } : {};
  let tables = 0;
  const database = e ? e.name : instance.dbName;
  const { code, tail } = await vacuumdb(target.bin, args, env, (line) => {
    if (/^INFO:\s+vacuuming "/.test(line)) {
      tables++;
      job.progress(tables, null, line.replace(/^INFO:\s+/, ''));
      job.line(line);
    } else if (/^(vacuumdb|ERROR|FATAL|WARNING)/.test(line)) job.line(line); // not the per-table statistics
  }, job.signal);
  if (code !== 0) throw new ApError('CLEANUP_FAILED', `vacuumdb -f on "${database}" failed (status ${code}): ${tail.filter((l) => l.trim()).slice(-3).join(' / ')}`);
  return `database "${database}" cleaned up (${tables} tables vacuumed in full)`;
}

// --- the nightly analyse schedule ---

/** What is kept between runs (in the config table, as JSON). */
export interface AnalyseState {
  /** The scheduling day planned for, its settings and its random start. */
  readonly day: string | null;
  readonly hour: number | null;
  readonly timeZone: string | null;
  readonly plannedAt: string | null;
  /** The scheduling day of the last run, so each day runs once. */
  readonly lastRunDay: string | null;
  readonly lastRunAt: string | null;
  readonly lastResult: string | null;
  readonly lastOk: boolean | null;
}

export const EMPTY_ANALYSE_STATE: AnalyseState = { day: null, hour: null, timeZone: null, plannedAt: null, lastRunDay: null, lastRunAt: null, lastResult: null, lastOk: null };
/** The seed: "a random offset of up to 7 hours". */
export const MAX_OFFSET_MS = 7 * 3600_000;

/**
 * The plan at `now`: the scheduling day is the latest local day whose
 * `hour`:00 has come; it gets one random start within seven hours of that,
 * drawn once. Due when that start has passed and the day has not run yet.
 */
export function planAnalyse(now: Date, hour: number, timeZone: string, state: AnalyseState, random: () => number): { state: AnalyseState; due: boolean } {
  let day = localDay(now, timeZone);
  let windowStart = zonedInstant(day, hour, timeZone);
  if (windowStart.getTime() > now.getTime()) {
    day = dayBefore(day);
    windowStart = zonedInstant(day, hour, timeZone);
  }
  let next = state;
  if (state.day !== day || state.hour !== hour || state.timeZone !== timeZone || state.plannedAt === null) {
    const offset = Math.floor(Math.min(Math.max(random(), 0), 0.999999) * MAX_OFFSET_MS);
    next = { ...state, day, hour, timeZone, plannedAt: new Date(windowStart.getTime() + offset).toISOString() };
  }
  const ranAlready = next.lastRunDay !== null && next.lastRunDay >= day;
  return { state: next, due: !ranAlready && now.getTime() >= Date.parse(next.plannedAt!) };
}

export const SETTING_HOUR = 'dbOptimizationHour';
export const SETTING_TIMEZONE = 'timezone';
const STATE_KEY = 'nightlyAnalyse';
export const DEFAULT_HOUR = Number(settingDefault('dbOptimizationHour'));

export interface NightlyAnalyseOptions {
  readonly settings: Settings;
  /** Where vacuumdb is and which cluster it works on (looked up when it runs). */
  readonly target: () => VacuumTarget;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly random?: () => number;
  /** How often the clock is looked at. */
  readonly intervalMs?: number;
  /** Runs the analyse (default: vacuumdb -a -z on the local cluster); resolves with a summary. */
  readonly run?: () => Promise<string>;
}

export class NightlyAnalyse {
  private stopTimer: (() => void) | null = null;
  private running: Promise<void> | null = null;
  /** The state as last saved, so an unchanged plan is not written every minute (flash wears). */
  private saved: string | null = null;

  constructor(private readonly options: NightlyAnalyseOptions) {}

  start(): void {
    this.stopTimer = every(this.options.intervalMs ?? 60_000, () => this.tick(), (err) => this.options.log.error(`nightly analyse: ${describe(err)}`));
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = null;
    await this.running;
  }

  /** Looks at the clock; runs the analyse when it is due. */
  async tick(): Promise<void> {
    if (this.running) return;
    const { hour, timeZone } = await this.settings();
    const now = (this.options.now ?? (() => new Date()))();
    const { state, due } = planAnalyse(now, hour, timeZone, await this.state(), this.options.random ?? Math.random);
    if (!due) {
      await this.save(state);
      return;
    }
    // Recorded before it runs: a crash during the run does not make it run twice that day.
    await this.save({ ...state, lastRunDay: state.day });
    await this.runNow(state.day);
  }

  /** Runs the analyse now (also the Manager's button); resolves when done. */
  async runNow(day: string | null = null): Promise<AnalyseState> {
    if (this.running) {
      await this.running;
      return this.state();
    }
    const work = (async () => {
      const startedAt = new Date();
      this.options.log.info('nightly analyse: vacuumdb -a -z');
      let result: string;
      let ok = true;
      try {
        result = await (this.options.run ?? (() => analyseAll(this.options.target())))();
        this.options.log.info(`nightly analyse: ${result}`);
      } catch (err) {
        ok = false;
        result = describe(err);
        this.options.log.error(`nightly analyse failed: ${result}`);
      }
      const state = await this.state();
      await this.save({ ...state, ...(day ? { lastRunDay: day } : {}), lastRunAt: startedAt.toISOString(), lastResult: result, lastOk: ok });
    })();
    this.running = work;
    try {
      await work;
    } finally {
      this.running = null;
    }
    return this.state();
  }

  /** What the Manager shows: settings, the next planned start, the last run. */
  async status(): Promise<Record<string, unknown>> {
    const { hour, timeZone } = await this.settings();
    const now = (this.options.now ?? (() => new Date()))();
    const state = await this.state();
    const { state: planned } = planAnalyse(now, hour, timeZone, state, this.options.random ?? Math.random);
    const ranToday = planned.lastRunDay !== null && planned.lastRunDay >= planned.day!;
    return {
      hour,
      timeZone,
      running: this.running !== null,
      nextAt: ranToday ? null : planned.plannedAt,
      lastRunAt: state.lastRunAt,
      lastResult: state.lastResult,
      lastOk: state.lastOk,
    };
  }

  private async settings(): Promise<{ hour: number; timeZone: string }> {
    const hourText = await this.options.settings.get(SETTING_HOUR);
    const timeZone = (await this.options.settings.get(SETTING_TIMEZONE)) ?? 'UTC';
    let hour = DEFAULT_HOUR;
    if (hourText !== null) {
      if (/^\d{1,2}$/.test(hourText) && Number(hourText) < 24) hour = Number(hourText);
      else this.options.log.warn(`setting ${SETTING_HOUR} "${hourText}" is not an hour 0-23; using ${DEFAULT_HOUR}`);
    }
    if (!validTimeZone(timeZone)) {
      this.options.log.warn(`setting ${SETTING_TIMEZONE} "${timeZone}" is not a time zone; using UTC`);
      return { hour, timeZone: 'UTC' };
    }
    return { hour, timeZone };
  }

  private async state(): Promise<AnalyseState> {
    const text = await this.options.settings.get(STATE_KEY);
    this.saved = text;
    if (text === null) return EMPTY_ANALYSE_STATE;
    try {
      return { ...EMPTY_ANALYSE_STATE, ...(JSON.parse(text) as Partial<AnalyseState>) };
    } catch {
      return EMPTY_ANALYSE_STATE;
    }
  }

  private async save(state: AnalyseState): Promise<void> {
    const text = JSON.stringify(state);
    if (text === this.saved) return;
    await this.options.settings.set(STATE_KEY, text);
    this.saved = text;
  }
}

/** vacuumdb -a -z on the local cluster: statistics for every database (it does not shrink them). */
async function analyseAll(target: VacuumTarget): Promise<string> {
  let databases = 0;
  const { code, tail } = await vacuumdb(target.bin, ['-a', '-z', '-h', target.cluster.socketDir, '-p', String(target.cluster.port), '-U', 'postgres'], {}, (line) => {
    if (/vacuuming database "/.test(line)) databases++;
  });
  if (code !== 0) throw new ApError('ANALYSE_FAILED', `vacuumdb -a -z failed (status ${code}): ${tail.filter((l) => l.trim()).slice(-3).join(' / ')}`);
  return `ok: ${databases} databases analysed`;
}
