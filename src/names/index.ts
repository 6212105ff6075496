// The naming rules of what enters from outside and becomes a folder, an
// account, a URL path or an identity: a leaf that services, the store, the
// instance model, the config file and the backup's command file all follow,
// so each rule is written once.
//
// A service's name becomes its folder (/apps/<name>), its log folders and its
// Linux account, so a name that would reuse an account or a folder of the
// system is refused wherever a name enters: app.json (upload, `ap ctl service
// install`, the App Store), the store's index, and the config file's
// instances. An instance is name@domain, served at a webserver path.
import { ApError, InvalidField } from '../errors';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PATH = /^(\/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)+$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

const SYNTAX = /^[a-z][a-z0-9_-]{0,30}$/;

/**
 * Names that are never a service: the supervisor's own folder (/apps/manager,
 * where S92manager runs it, and its log folder), the database superuser
 * (pg_ident.conf maps the OS user postgres to it), root, and accounts every
 * Linux has. Other existing accounts are refused at install (accounts.ts).
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'root', 'postgres', 'manager', 'daemon', 'bin', 'sys', 'sync', 'nobody', 'nogroup', 'sshd', 'admin', 'operator', 'halt', 'shutdown', 'mail', 'www-data', 'ap',
]);

/** True when `name` may name a service (syntax and the reserved list). */
export function isServiceName(name: unknown): name is string {
  return typeof name === 'string' && SYNTAX.test(name) && !RESERVED_NAMES.has(name);
}

/** Returns `name` when it may name a service; throws SERVICE_NAME_INVALID or SERVICE_NAME_RESERVED otherwise. */
export function checkServiceName(name: unknown): string {
  if (typeof name !== 'string' || !SYNTAX.test(name)) {
    throw new ApError('SERVICE_NAME_INVALID', `${JSON.stringify(name)} is not a service name: lowercase letters, digits, _ or -, starting with a letter, at most 31 characters`);
  }
  if (RESERVED_NAMES.has(name)) throw reservedError(name, 'it belongs to the system or the supervisor');
  return name;
}

/** The error for a name the system or another program already uses. */
export function reservedError(name: string, why: string): ApError {
  return new ApError('SERVICE_NAME_RESERVED', `"${name}" cannot name an app service: ${why}; rename the service (the "name" in its app.json)`);
}

// --- an instance's identity fields ---

/** An instance's name; InvalidField(`field`) otherwise. */
export function checkName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new InvalidField(field, `${shown(value)} is not an instance name: lowercase letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters`);
  }
  return value;
}

/** An instance's domain: lowercase DNS labels. */
export function checkDomain(value: unknown, field = 'domain'): string {
  if (typeof value !== 'string' || value.length > 253 || !value.split('.').every((label) => LABEL.test(label))) {
    throw new InvalidField(field, `${shown(value)} is not a domain name: lowercase labels of letters, digits and "-", separated by dots`);
  }
  return value;
}

/** A service's name where an instance names it (as InvalidField). */
export function checkService(value: unknown, field = 'service'): string {
  if (typeof value === 'string' && RESERVED_NAMES.has(value)) throw new InvalidField(field, `"${value}" is reserved for the system and cannot name an app service`);
  if (!isServiceName(value)) throw new InvalidField(field, `${shown(value)} is not a service name`);
  return value;
}

/** An instance's webserver path: plain segments, never the Manager's. */
export function checkPath(value: unknown, field = 'path'): string {
  if (typeof value !== 'string' || value.length > 1024 || !PATH.test(value) || !plainSegments(value)) {
    throw new InvalidField(field, `${shown(value)} is not a webserver path such as /example.com/app (no trailing "/", no "." or ".." segment, no percent-encoded ".", "/", "\\" or NUL)`);
  }
  if (value === '/manager' || value.startsWith('/manager/')) throw new InvalidField(field, `${value} belongs to the Manager`);
  return value;
}

/** An instance password: 1 to 256 characters, no control characters. */
export function checkPassword(value: unknown, field = 'password'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256 || CONTROL.test(value)) {
    throw new InvalidField(field, 'must be 1 to 256 characters without control characters');
  }
  return value;
}

/** A client's value quoted for an error message (printable, at most 80 characters). */
export function shown(value: unknown): string {
  return typeof value === 'string' ? `"${printable(value)}"` : printable(JSON.stringify(value) ?? String(value));
}

/** At most 80 characters of a client's value, control characters as "?": error messages must not echo what they refuse. */
export function printable(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return cut.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/**
 * Whether every segment of `path` means itself: a client may send the path
 * percent-encoded, and a proxy or app that decodes it must not find ".",
 * "..", a "/" or "\\" inside a segment, or a NUL or other control character.
 */
function plainSegments(path: string): boolean {
  if (/%(2e|2f|5c|00)/i.test(path) || /%(?![0-9a-f]{2})/i.test(path)) return false;
  for (const segment of path.split('/').slice(1)) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return false; // not UTF-8 once decoded
    }
    if (decoded === '.' || decoded === '..' || CONTROL.test(decoded) || decoded.includes('\\')) return false;
  }
  return true;
}
