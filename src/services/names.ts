// The one naming rule for app services. A service's name becomes its folder
// (/apps/<name>), its log folders and its Linux account, so a name that would
// reuse an account or a folder of the system is refused wherever a name
// enters: app.json (upload, `ap ctl service install`, the App Store), the
// store's index, and the config file's instances.
import { ApError } from '../errors';

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
