// The rules a standby's name follows, and the PostgreSQL names derived from
// it. Pure: the standby side derives the same role and slot from the name it
// is configured with, so both sides must share this one function.
import { createHash, randomInt } from 'node:crypto';
import { InvalidField } from '../errors';

/** The seed: "Max 8 standby servers can be configured." */
export const MAX_STANDBYS = 8;

/** What our roles and slots are called; nothing else in the cluster starts so (instance roles are `<domain>_<name>` without REPLICATION). */
export const STANDBY_PREFIX = 'ap_standby_';
const OURS = /^ap_standby_[0-9a-f]{16}$/;

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A standby's name as stored: lower-cased, and a domain name (the seed: "must
 * be a valid domain name"): labels of letters, digits and inner hyphens, 1 to
 * 63 characters each, at most 253 in all, no trailing dot. InvalidField otherwise.
 */
export function checkStandbyName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || value === '') throw new InvalidField(field, 'a standby needs a name, a domain name such as standby1.example.com');
  const name = value.toLowerCase();
  if (name.length > 253) throw new InvalidField(field, `at most 253 characters (got ${name.length})`);
  const bad = name.split('.').find((label) => !LABEL.test(label));
  if (bad !== undefined) {
    throw new InvalidField(
      field,
      `"${value}" is not a domain name: each dot-separated label needs 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen${bad === '' ? ' (no empty label, no leading or trailing dot)' : ` ("${bad}" does not)`}`,
    );
  }
  return name;
}

/**
 * The PostgreSQL role and the replication slot of standby `name` (one name
 * for both): `ap_standby_` and the first 16 hex digits of the SHA-256 of the
 * lower-cased name. A slot name allows only [a-z0-9_], and a hash keeps any
 * domain name within PostgreSQL's 63 bytes.
 */
export function standbyRole(name: string): string {
  return STANDBY_PREFIX + createHash('sha256').update(name.toLowerCase(), 'utf8').digest('hex').slice(0, 16);
}

/** Whether a role or slot name is one of ours (derived by standbyRole). */
export function isStandbyRole(name: string): boolean {
  return OURS.test(name);
}

// Letters and digits without the ones people misread (0 O 1 l I): typed by hand
// on the standby, and safe unquoted in a libpq connection string and a URL.
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
export const PASSWORD_LENGTH = 28;

/** A standby's password: 28 characters drawn by crypto.randomInt (about 163 bits). */
export function generatePassword(length = PASSWORD_LENGTH): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}
