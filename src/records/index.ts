// The instance record and its model, shared by instances, backups, the config
// file and the SDK (a leaf: it imports only leaves): what an instance is, its
// defaults (the seed's: path /<domain>/<name>, database name and user
// <domain>_<name>), and validation of every field that comes from outside.
// Pure: no I/O. A bad value is an InvalidField naming the field, raised before
// anything is written.
import { randomInt } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidField } from '../errors';
import { T, type Static } from '../schema';
import { checkDomain, checkName, checkPassword, checkPath, checkService, printable, shown } from '../names';

export { InvalidField };
// The identity fields' rules are a leaf of their own (src/names), which the config file's instances follow too.
export { checkDomain, checkName, checkPassword, checkPath, checkService };
import { DEFAULT_TRACE_FLAGS, parseTraceFlags, traceFlagNames } from '../trace';

/** An external database host (the seed's "External database host"); the service connects there instead. */
const ExternalDb = T.Object({
  host: T.String(),
  port: T.Integer({ minimum: 1, maximum: 65535 }),
  name: T.String(),
  user: T.String(),
  password: T.String(),
});
export type ExternalDb = Readonly<Static<typeof ExternalDb>>;

const Wanted = T.Union([T.Literal('running'), T.Literal('stopped')]);
export type Wanted = Static<typeof Wanted>;
/** provisioning: its database is being created; deleting: being removed; both resume after a crash. */
const Phase = T.Union([T.Literal('provisioning'), T.Literal('ready'), T.Literal('deleting')]);
export type Phase = Static<typeof Phase>;

/**
 * An instance as stored in the manager database: the one record whose fields
 * a backup's header, the config file's declared instances and the SDK's
 * instance.start take (each the part it carries). What a field may be beyond
 * its type (a name's characters, a path's form) is checked by names.
 */
export const InstanceRecord = T.Object({
  service: T.String({ description: 'the app service that serves it' }),
  name: T.String(),
  domain: T.String(),
  /** Webserver path, default /<domain>/<name>. */
  path: T.String(),
  /** The instance password: PBX App objects log in with it. */
  password: T.String(),
  dbName: T.String(),
  dbUser: T.String(),
  /** Random; known only to the supervisor (and given to the service). */
  dbPassword: T.String(),
  external: T.Union([ExternalDb, T.Null()]),
  /** The vendor's trace-flag bitmask. */
  traceFlags: T.Integer({ minimum: 0 }),
  excludeFromBackup: T.Boolean(),
  /** Request body limit of its path, or null for the server's. */
  maxBodyBytes: T.Union([T.Integer({ minimum: 0 }), T.Null()]),
  wanted: Wanted,
  phase: Phase,
  /** While deleting: whether its database and user go too. */
  dropDatabase: T.Boolean(),
});
export type Instance = Readonly<Static<typeof InstanceRecord>>;

/** What a client may give to create an instance. */
export interface CreateInput {
  service?: unknown;
  name?: unknown;
  domain?: unknown;
  path?: unknown;
  password?: unknown;
  dbName?: unknown;
  dbUser?: unknown;
  dbPassword?: unknown;
  /** "host[:port]" with name, user and password, or null. */
  external?: unknown;
  traceFlags?: unknown;
  excludeFromBackup?: unknown;
  maxBodyBytes?: unknown;
  wanted?: unknown;
}

/** What may change after creation. Name, domain, service, database name and user stay (a clone is a restore under another name). */
export interface EditInput {
  path?: unknown;
  password?: unknown;
  dbPassword?: unknown;
  external?: unknown;
  traceFlags?: unknown;
  excludeFromBackup?: unknown;
  maxBodyBytes?: unknown;
}

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), in bytes. */
export const MAX_DB_IDENTIFIER = 63;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const RESERVED_DATABASES = new Set(['manager', 'postgres', 'template0', 'template1']);
const RESERVED_ROLES = new Set(['postgres', 'public', 'none', 'current_user', 'session_user', 'current_role', 'all']);

/** name@domain: how an instance is known (DESIGN.md). */
export function instanceId(i: { readonly name: string; readonly domain: string }): string {
  return `${i.name}@${i.domain}`;
}

/** Splits "name@domain"; throws InvalidField("instance") when it is not one. */
export function parseInstanceId(id: unknown): { name: string; domain: string } {
  if (typeof id !== 'string') throw new InvalidField('instance', 'expected name@domain');
  const at = id.lastIndexOf('@');
  if (at <= 0) throw new InvalidField('instance', `"${printable(id)}" is not name@domain`);
  return { name: checkName(id.slice(0, at)), domain: checkDomain(id.slice(at + 1)) };
}

/** A database or role name: 1 to 63 bytes, no control characters, not one PostgreSQL or the supervisor reserves. */
export function checkDbIdentifier(value: unknown, field: 'dbName' | 'dbUser' | 'external.name' | 'external.user'): string {
  if (typeof value !== 'string' || value.length === 0 || CONTROL.test(value)) throw new InvalidField(field, 'must be a non-empty name without control characters');
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_DB_IDENTIFIER) {
    throw new InvalidField(field, `"${value}" is ${bytes} bytes; PostgreSQL allows at most ${MAX_DB_IDENTIFIER}: choose a shorter one`);
  }
  if (field === 'dbName' && RESERVED_DATABASES.has(value)) throw new InvalidField(field, `"${value}" is reserved`);
  if (field === 'dbUser' && (RESERVED_ROLES.has(value.toLowerCase()) || value.startsWith('pg_'))) throw new InvalidField(field, `"${value}" is reserved`);
  return value;
}

/** "host[:port]": DNS name, IPv4, or IPv6 (in brackets when a port follows); port 5432 unless given. */
export function parseDbHost(value: unknown, field = 'external.host'): { host: string; port: number } {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidField(field, 'expected host or host:port');
  let host = value;
  let port = 5432;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
    if (!isIPv6(host)) throw new InvalidField(field, `${shown(host)} is not an IPv6 address`);
  } else if (value.split(':').length > 2) {
    if (!isIPv6(value)) throw new InvalidField(field, `${shown(value)} is not an IPv6 address (write [address]:port to add a port)`);
  } else {
    const colon = value.lastIndexOf(':');
    if (colon >= 0) {
      host = value.slice(0, colon);
      if (!/^\d{1,5}$/.test(value.slice(colon + 1))) throw new InvalidField(field, `port in ${shown(value)} must be a number`);
      port = Number(value.slice(colon + 1));
    }
    const hostname = host.toLowerCase();
    if (!isIPv4(host) && (hostname.length > 253 || !hostname.split('.').every((label) => LABEL.test(label)))) {
      throw new InvalidField(field, `${shown(host)} is not a DNS name or IP address`);
    }
    host = hostname;
  }
  if (port < 1 || port > 65535) throw new InvalidField(field, `port ${port} is not between 1 and 65535`);
  return { host, port };
}

/** host:port for people, with brackets around IPv6. */
export function formatDbHost(e: { readonly host: string; readonly port: number }): string {
  return `${isIPv6(e.host) ? `[${e.host}]` : e.host}:${e.port}`;
}

/** A random password of `length` letters and digits (crypto-grade). */
export function randomPassword(length: number): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export const INSTANCE_PASSWORD_LENGTH = 20;
export const DB_PASSWORD_LENGTH = 32;

/** A validated new instance, defaults filled in (phase provisioning). */
export function validateCreate(input: CreateInput, options: { readonly requireService?: (service: string) => void } = {}): Instance {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidField('instance', 'expected an object');
  const known = ['service', 'name', 'domain', 'path', 'password', 'dbName', 'dbUser', 'dbPassword', 'external', 'traceFlags', 'excludeFromBackup', 'maxBodyBytes', 'wanted'];
  for (const key of Object.keys(input)) if (!known.includes(key)) throw new InvalidField(key, 'unknown field');
  const service = checkService(input.service);
  options.requireService?.(service);
  const name = checkName(input.name);
  const domain = checkDomain(input.domain);
  const suggested = `${domain}_${name}`;
  const defaultDb = (field: 'dbName' | 'dbUser') => {
    const bytes = Buffer.byteLength(suggested, 'utf8');
    if (bytes > MAX_DB_IDENTIFIER) {
      throw new InvalidField(
        field,
        `the default "${suggested}" (<domain>_<name>) is ${bytes} characters; PostgreSQL allows ${MAX_DB_IDENTIFIER}: give a shorter ${field} (unique on this box) or a shorter name`,
      );
    }
    return checkDbIdentifier(suggested, field);
  };
  return {
    service,
    name,
    domain,
    path: input.path === undefined ? checkPath(`/${domain}/${name}`) : checkPath(input.path),
    password: input.password === undefined ? randomPassword(INSTANCE_PASSWORD_LENGTH) : checkPassword(input.password),
    dbName: input.dbName === undefined ? defaultDb('dbName') : checkDbIdentifier(input.dbName, 'dbName'),
    dbUser: input.dbUser === undefined ? defaultDb('dbUser') : checkDbIdentifier(input.dbUser, 'dbUser'),
    dbPassword: input.dbPassword === undefined ? randomPassword(DB_PASSWORD_LENGTH) : checkPassword(input.dbPassword, 'dbPassword'),
    external: checkExternal(input.external),
    traceFlags: input.traceFlags === undefined ? DEFAULT_TRACE_FLAGS : checkTraceFlags(input.traceFlags),
    excludeFromBackup: input.excludeFromBackup === undefined ? false : checkBoolean(input.excludeFromBackup, 'excludeFromBackup'),
    maxBodyBytes: input.maxBodyBytes === undefined ? null : checkMaxBody(input.maxBodyBytes),
    wanted: input.wanted === undefined ? 'running' : checkWanted(input.wanted),
    phase: 'provisioning',
    dropDatabase: false,
  };
}

export type Changes = { -readonly [K in 'path' | 'password' | 'dbPassword' | 'external' | 'traceFlags' | 'excludeFromBackup' | 'maxBodyBytes']?: Instance[K] };

/** The changed fields of an edit, validated; `null` for external clears it. */
export function validateEdit(input: EditInput): Changes {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidField('instance', 'expected an object');
  const editable = ['path', 'password', 'dbPassword', 'external', 'traceFlags', 'excludeFromBackup', 'maxBodyBytes'];
  for (const key of Object.keys(input)) {
    if (!editable.includes(key)) {
      const fixed = ['service', 'name', 'domain', 'dbName', 'dbUser'].includes(key);
      throw new InvalidField(key, fixed ? 'cannot change after creation (back up and restore under another name instead)' : 'unknown field');
    }
  }
  const out: Changes = {};
  if (input.path !== undefined) out.path = checkPath(input.path);
  if (input.password !== undefined) out.password = checkPassword(input.password);
  if (input.dbPassword !== undefined) out.dbPassword = checkPassword(input.dbPassword, 'dbPassword');
  if (input.external !== undefined) out.external = checkExternal(input.external);
  if (input.traceFlags !== undefined) out.traceFlags = checkTraceFlags(input.traceFlags);
  if (input.excludeFromBackup !== undefined) out.excludeFromBackup = checkBoolean(input.excludeFromBackup, 'excludeFromBackup');
  if (input.maxBodyBytes !== undefined) out.maxBodyBytes = input.maxBodyBytes === null ? null : checkMaxBody(input.maxBodyBytes);
  return out;
}

function checkExternal(value: unknown): ExternalDb | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidField('external', 'expected {host, name, user, password} or null');
  const e = value as Record<string, unknown>;
  for (const key of Object.keys(e)) if (!['host', 'name', 'user', 'password'].includes(key)) throw new InvalidField(`external.${key}`, 'unknown field');
  const { host, port } = parseDbHost(e.host);
  return {
    host,
    port,
    name: checkDbIdentifier(e.name, 'external.name'),
    user: checkDbIdentifier(e.user, 'external.user'),
    password: checkPassword(e.password, 'external.password'),
  };
}

function checkTraceFlags(value: unknown): number {
  if (typeof value !== 'number' && !(Array.isArray(value) && value.every((v) => typeof v === 'string'))) {
    throw new InvalidField('traceFlags', 'expected a bitmask number or a list of flag names');
  }
  try {
    return parseTraceFlags(value as number | string[]);
  } catch (err) {
    throw new InvalidField('traceFlags', (err as Error).message);
  }
}

function checkBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidField(field, 'expected true or false');
  return value;
}

function checkWanted(value: unknown): Wanted {
  if (value !== 'running' && value !== 'stopped') throw new InvalidField('wanted', 'expected "running" or "stopped"');
  return value;
}

function checkMaxBody(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidField('maxBodyBytes', 'expected a number of bytes');
  return value;
}

/** The instance as clients see it: passwords of the database side are never shown. */
export function publicView(i: Instance): Record<string, unknown> {
  return {
    id: instanceId(i),
    service: i.service,
    name: i.name,
    domain: i.domain,
    path: i.path,
    password: i.password,
    database: { name: i.dbName, user: i.dbUser },
    external: i.external ? { host: formatDbHost(i.external), name: i.external.name, user: i.external.user } : null,
    traceFlags: i.traceFlags,
    traceFlagNames: traceFlagNames(i.traceFlags),
    excludeFromBackup: i.excludeFromBackup,
    maxBodyBytes: i.maxBodyBytes,
    wanted: i.wanted,
    phase: i.phase,
  };
}
