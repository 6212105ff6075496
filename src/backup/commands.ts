// The backup command file (a Manager setting), exactly the seed's syntax:
//
//   times 0,12                                          # hours (local time); every hour without it
//   backup-instances http://user:pw@ip/path/#I-#D.dump PUT
//   backup-instance  http://user:pw@ip/path/#I-#D.dump apidemo example.com PUT
//   backup-manager   http://user:pw@ip/path/#I-#D.dump
//
// A token starting with "#" begins a comment (a URL's hash parameters never
// start a token). Hash parameters in URLs: #L App Platform label, #A app
// label, #I instance name, #D instance domain, #m MAC address, #d UTC time
// YYYYMMDD-hhmmss, #bN rolling index 0..N (one digit), ## a hash mark.
// Every expansion is percent-encoded: a raw "#" (from ##, or a label) would
// start the URL's fragment and cut the file name short at the receiver, and a
// "/", "?" or "%" would change the path.
// Every error is reported with its line; a file with errors is not saved.
import { ApError } from '../errors';
import { wallClock } from '../time';
import { checkDomain, checkName } from '../names';

export type Method = 'PUT' | 'POST';

export type BackupCommand =
  | { readonly kind: 'backup-instances'; readonly url: string; readonly method: Method; readonly line: number }
  | { readonly kind: 'backup-instance'; readonly url: string; readonly name: string; readonly domain: string; readonly method: Method; readonly line: number }
  | { readonly kind: 'backup-manager'; readonly url: string; readonly method: Method; readonly line: number };

export interface CommandFile {
  /** Hours (0-23, local time) to run at; null: every hour. */
  readonly hours: readonly number[] | null;
  readonly backups: readonly BackupCommand[];
}

export interface LineError {
  readonly line: number;
  readonly message: string;
}

export class CommandFileError extends ApError {
  constructor(readonly errors: readonly LineError[]) {
    super('INVALID_COMMAND_FILE', `the command file has ${errors.length === 1 ? 'an error' : `${errors.length} errors`}: ${errors.map((e) => `line ${e.line}: ${e.message}`).join('; ')}`);
    this.name = 'CommandFileError';
  }
}

const HASH = /#(#|L|A|I|D|m|d|b\d|.?)/g;

/** Parses the whole file; throws CommandFileError listing every bad line. */
export function parseCommandFile(text: string): CommandFile {
  const errors: LineError[] = [];
  let hours: number[] | null = null;
  let timesLine = 0;
  const backups: BackupCommand[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const fail = (message: string) => void errors.push({ line, message });
    const all = raw.trim().split(/\s+/).filter(Boolean);
    const comment = all.findIndex((t) => t.startsWith('#'));
    const tokens = comment < 0 ? all : all.slice(0, comment);
    if (tokens.length === 0) return;
    const [command, ...args] = tokens as [string, ...string[]];
    const method = (arg: string | undefined): Method | null => {
      if (arg === undefined) return 'PUT';
      const upper = arg.toUpperCase();
      if (upper === 'PUT' || upper === 'POST') return upper;
      fail(`method "${arg}" is not PUT or POST`);
      return null;
    };
    switch (command) {
      case 'times': {
        if (timesLine) return fail(`"times" given twice (first on line ${timesLine})`);
        timesLine = line;
        const list = args.join('');
        if (list === '') return fail('"times" needs hours, e.g. times 0,12');
        const parsed: number[] = [];
        for (const part of list.split(',')) {
          if (!/^\d{1,2}$/.test(part) || Number(part) > 23) return fail(`"${part}" is not an hour from 0 to 23`);
          if (parsed.includes(Number(part))) return fail(`hour ${Number(part)} is listed twice`);
          parsed.push(Number(part));
        }
        hours = parsed.sort((a, b) => a - b);
        return;
      }
      case 'backup-instances':
      case 'backup-manager': {
        if (args.length < 1 || args.length > 2) return fail(`"${command}" takes a URL and optionally PUT or POST`);
        const url = checkUrl(args[0]!, fail);
        const m = method(args[1]);
        if (url && m) backups.push({ kind: command, url, method: m, line });
        return;
      }
      case 'backup-instance': {
        if (args.length < 3 || args.length > 4) return fail('"backup-instance" takes a URL, an instance name and domain, and optionally PUT or POST');
        const url = checkUrl(args[0]!, fail);
        let name: string | null = null;
        let domain: string | null = null;
        try {
          name = checkName(args[1]);
          domain = checkDomain(args[2]);
        } catch (err) {
          fail((err as Error).message);
        }
        const m = method(args[3]);
        if (url && name && domain && m) backups.push({ kind: 'backup-instance', url, name, domain, method: m, line });
        return;
      }
      default:
        fail(`unknown command "${command}" (known: times, backup-instances, backup-instance, backup-manager)`);
    }
  });
  if (errors.length > 0) throw new CommandFileError(errors);
  return { hours, backups };
}

/** A URL template: known hash parameters only, http or https once expanded. */
function checkUrl(url: string, fail: (message: string) => void): string | null {
  for (const match of url.matchAll(HASH)) {
    const p = match[1]!;
    if (p === '#' || /^(L|A|I|D|m|d|b\d)$/.test(p)) continue;
    fail(`unknown hash parameter "#${p}" in the URL (known: #L #A #I #D #m #d #b0-#b9; ## for a hash mark)`);
    return null;
  }
  const sample = expandHash(url, { L: '1', A: '1', I: 'i', D: 'd', m: '0', d: new Date(0), b: () => 0 });
  let parsed: URL;
  try {
    parsed = new URL(sample);
  } catch {
    fail(`"${url}" is not a URL`);
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    fail(`"${parsed.protocol}" URLs are not supported: use http or https`);
    return null;
  }
  return url;
}

export interface HashValues {
  /** #L: the App Platform label. */
  readonly L: string;
  /** #A: the app's label. */
  readonly A: string;
  readonly I: string;
  readonly D: string;
  /** #m: the MAC address, hex digits without separators. */
  readonly m: string;
  /** #d: the backup's time. */
  readonly d: Date;
  /** #bN: the rolling index for N. */
  readonly b: (n: number) => number;
}

/** Expands the hash parameters of `template`, each value percent-encoded. */
export function expandHash(template: string, values: HashValues): string {
  return template.replace(HASH, (whole, p: string) => {
    switch (p) {
      case '#':
        return encodeUrlPart('#');
      case 'L':
      case 'A':
      case 'I':
      case 'D':
      case 'm':
        return encodeUrlPart(values[p]);
      case 'd':
        return utcStamp(values.d);
      default:
        return /^b\d$/.test(p) ? String(values.b(Number(p[1]))) : whole;
    }
  });
}

/**
 * Percent-encodes every character outside RFC 3986's unreserved set, also the
 * sub-delimiters encodeURIComponent leaves (!'()*), so that an expansion is
 * data wherever it stands in the URL (path, query or user info).
 */
export function encodeUrlPart(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Plain UTC, YYYYMMDD-hhmmss (the seed's 20051010-170130). */
export function utcStamp(date: Date): string {
  const iso = date.toISOString(); // 2005-10-10T17:01:30.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** #bN for the run numbered `run` (0, 1, 2, …): 0..N, then again from 0. */
export function rollingIndex(run: number, n: number): number {
  return run % (n + 1);
}

/** Longer than this ahead of the clock, the last run time means the clock was reset: run again. */
const CLOCK_RESET_MS = 48 * 3600_000;

/**
 * Whether the command file's backups are due at `now`: in a listed hour (local
 * time of `timeZone`; any hour when `hours` is null), and that local hour has
 * not run yet. `lastKey` is the local hour of the last run ("YYYY-MM-DDTHH");
 * a clock that goes back does not run an hour twice (a DST fall-back hour runs
 * once), unless it went back so far that it was plainly reset.
 */
export function backupDue(now: Date, timeZone: string, hours: readonly number[] | null, lastKey: string | null): { key: string; due: boolean } {
  const w = wallClock(now, timeZone);
  const key = `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}T${String(w.hour).padStart(2, '0')}`;
  if (hours !== null && !hours.includes(w.hour)) return { key, due: false };
  if (lastKey === null || key > lastKey) return { key, due: true };
  const last = Date.parse(`${lastKey}:00:00Z`);
  const reset = Number.isFinite(last) && last - now.getTime() > CLOCK_RESET_MS;
  return { key, due: reset };
}
