// A standby's own configuration, home/root/standby.conf (the seed: its
// database is read-only, so its Manager settings live here), and the
// replication.conf that makes its cluster a hot standby. Parsing and
// rendering are pure; reading sets a malformed file aside instead of failing
// the start.
import { isIP } from 'node:net';
import { rename } from 'node:fs/promises';
import type { Settings } from '../db';
import { ApError, describe, InvalidField } from '../errors';
import { readTextIfExists, writeFileAtomic } from '../fsutil';
import type { Logger } from '../log';
import { checkStandbyName, standbyRole } from './names';
import { conninfoValue, literal } from './conf';

export const DEFAULT_PG_PORT = 5432;

export interface PrimaryAddress {
  readonly host: string;
  readonly port: number;
}

export interface StandbyConf {
  readonly version: 1;
  readonly primary: PrimaryAddress;
  /** The standby's name as the primary knows it (lower-cased domain name). */
  readonly name: string;
  readonly password: string;
  /** The standby's own Manager settings (the `config` table's name/value pairs). */
  readonly settings: Readonly<Record<string, string>>;
  /** Set once pg_promote succeeded: the next composition finishes the promotion into this mode. */
  readonly promote?: 'off' | 'primary';
}

const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** "host", "host:port", "[v6]:port" or a bare IPv6 literal; a host name or an IP literal, port 1-65535 (default 5432). InvalidField otherwise. */
export function parsePrimary(value: unknown, field = 'primary'): PrimaryAddress {
  if (typeof value !== 'string' || value.trim() === '') throw new InvalidField(field, 'the primary is host[:port], e.g. primary.example.com or 10.0.0.2:5433');
  const text = value.trim();
  let host = text;
  let portText: string | null = null;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2] ?? null;
  } else if (text.split(':').length === 2) {
    [host, portText] = text.split(':') as [string, string];
  }
  const port = portText === null ? DEFAULT_PG_PORT : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InvalidField(field, `"${portText}" is not a port (1 to 65535)`);
  const ipLiteral = isIP(host) !== 0;
  if (!ipLiteral && (host.length > 253 || !host.split('.').every((label) => HOST_LABEL.test(label)))) {
    throw new InvalidField(field, `"${host}" is neither a host name nor an IP address`);
  }
  return { host: host.toLowerCase(), port };
}

/** standby.conf's text as stored. */
export function renderStandbyConf(conf: StandbyConf): string {
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/** Parses standby.conf; STANDBY_CONF_INVALID saying what is wrong. */
export function parseStandbyConf(text: string): StandbyConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ApError('STANDBY_CONF_INVALID', `not JSON: ${describe(err)}`);
  }
  const bad = (why: string): never => {
    throw new ApError('STANDBY_CONF_INVALID', why);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('not a JSON object');
  const o = raw as Record<string, unknown>;
  if (o.version !== 1) bad(`version ${JSON.stringify(o.version)} is not 1`);
  const p = o.primary as Record<string, unknown> | undefined;
  if (typeof p !== 'object' || p === null || typeof p.host !== 'string' || typeof p.port !== 'number') bad('"primary" needs "host" (a string) and "port" (a number)');
  let primary: PrimaryAddress;
  let name: string;
  try {
    primary = parsePrimary(`${String(p!.host).includes(':') ? `[${String(p!.host)}]` : String(p!.host)}:${String(p!.port)}`);
    name = checkStandbyName(o.name);
  } catch (err) {
    return bad(describe(err));
  }
  if (typeof o.password !== 'string' || o.password === '') bad('"password" needs a string');
  const settings = o.settings ?? {};
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings) || Object.values(settings).some((v) => typeof v !== 'string')) {
    bad('"settings" must be an object of strings');
  }
  if (o.promote !== undefined && o.promote !== 'off' && o.promote !== 'primary') bad('"promote" must be "off" or "primary"');
  return {
    version: 1,
    primary: primary!,
    name: name!,
    password: o.password as string,
    settings: { ...(settings as Record<string, string>) },
    ...(o.promote === undefined ? {} : { promote: o.promote as 'off' | 'primary' }),
  };
}

/** Writes standby.conf whole (0600: it holds the replication password and the Manager's password hash). */
export function writeStandbyConf(path: string, conf: StandbyConf): Promise<void> {
  return writeFileAtomic(path, renderStandbyConf(conf), 0o600);
}

/**
 * standby.conf, or null without one. A malformed file is renamed to
 * `standby.conf.invalid-<time>` with an error in the log, and the box starts as
 * it would without it: never a crash at every start.
 */
export async function readStandbyConf(path: string, log: Logger): Promise<StandbyConf | null> {
  const text = await readTextIfExists(path);
  if (text === null) return null;
  try {
    return parseStandbyConf(text);
  } catch (err) {
    const aside = `${path}.invalid-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(path, aside);
    log.warn(`${path} is malformed (${describe(err)}); moved to ${aside}: this box starts as it would without it, not as a standby`);
    return null;
  }
}

/** The Settings interface over standby.conf's `settings`: every set rewrites the file whole, one at a time. */
export function fileSettings(path: string, initial: StandbyConf): Settings & { current(): StandbyConf; replaceAll(settings: Record<string, string>): Promise<void> } {
  let conf = initial;
  let queue: Promise<unknown> = Promise.resolve();
  const change = (next: (values: Record<string, string>) => void) => {
    const run = queue.then(async () => {
      const values = { ...conf.settings };
      next(values);
      const updated = { ...conf, settings: values };
      await writeStandbyConf(path, updated);
      conf = updated;
    });
    queue = run.catch(() => {});
    return run;
  };
  return {
    current: () => conf,
    get: async (name) => conf.settings[name] ?? null,
    set: (name, value) =>
      change((values) => {
        values[name] = value;
      }),
    // One write of the file: all or none.
    setMany: (settings) =>
      change((values) => {
        Object.assign(values, settings);
      }),
    delete: (name) =>
      change((values) => {
        delete values[name];
      }),
    // A restored standby.conf's settings, in one write.
    replaceAll: (settings) =>
      change((values) => {
        for (const name of Object.keys(values)) delete values[name];
        Object.assign(values, settings);
      }),
  };
}

export interface StandbyFiles {
  readonly primary: PrimaryAddress;
  readonly name: string;
  readonly password: string;
}

/**
 * How long replay on a standby waits for a query that reads rows the primary
 * has since vacuumed away before it cancels that query. The readers there are
 * the supervisor's own short queries and backups (pg_dump reads one snapshot):
 * a dump gets this long instead of PostgreSQL's 30 s. Not hot_standby_feedback:
 * through the slot it would hold back VACUUM on the primary also while the
 * standby is away.
 */
export const STANDBY_REPLAY_WAIT = '10min';

/**
 * replication.conf of a standby: stream from the primary over TLS as the
 * standby's role, from its slot, as a hot standby that serves read-only
 * queries on its Unix socket only.
 */
export function renderStandbyReplicationConf(f: StandbyFiles): string {
  const role = standbyRole(f.name);
  const conninfo = [
    `host=${conninfoValue(f.primary.host)}`,
    `port=${f.primary.port}`,
    `user=${role}`,
    `password=${conninfoValue(f.password)}`,
    'sslmode=require',
    `application_name=${conninfoValue(f.name)}`,
  ].join(' ');
  return [
    '# Written by the App Platform supervisor (replication standby); rewritten on every change: edit the Manager\'s replication settings instead.',
    "listen_addresses = ''",
    'ssl = off',
    'hot_standby = on',
    `primary_conninfo = ${literal(conninfo)}`,
    `primary_slot_name = ${literal(role)}`,
    'hot_standby_feedback = off',
    `max_standby_streaming_delay = ${literal(STANDBY_REPLAY_WAIT)}`,
    `max_standby_archive_delay = ${literal(STANDBY_REPLAY_WAIT)}`,
    '',
  ].join('\n');
}
