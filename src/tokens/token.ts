// An API token's text and arithmetic, pure. The text describes itself,
// apt_<id>_<secret>: the id (16 hex digits) is public and finds the row, the
// secret is 32 random bytes in base64url (43 characters), kept only as its
// SHA-256. A plain hash is enough here, unlike for a password: a 256-bit
// random secret cannot be guessed, so there is nothing for argon2's cost to
// slow down, and a lookup stays one hash.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN = /^apt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A new token: its id, its text (shown once) and the hash to store. */
export interface Minted {
  readonly id: string;
  readonly text: string;
  readonly hash: Buffer;
}

export function mintToken(): Minted {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, text: `apt_${id}_${secret}`, hash: secretHash(secret) };
}

/** The id and secret of a token's text, or null when it is not one. */
export function parseToken(text: string): { readonly id: string; readonly secret: string } | null {
  const match = TOKEN.exec(text);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

export function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Whether `secret` hashes to `stored`, in constant time. */
export function secretMatches(secret: string, stored: Uint8Array): boolean {
  const given = secretHash(secret);
  return given.length === stored.length && timingSafeEqual(given, stored);
}

/**
 * The credentials of an Authorization header of the Bearer scheme ('' when it
 * names the scheme but nothing after it), or null for no header or another
 * scheme (a proxy's Basic login in front of the Manager is not ours to judge).
 */
export function bearerToken(authorization: string): string | null {
  const match = /^Bearer(?:$|[ \t]+(.*)$)/i.exec(authorization);
  return match ? (match[1] ?? '').trim() : null;
}

/** Whether `text` claims to be one of our tokens (the metrics' older shared token is not). */
export function looksLikeToken(text: string): boolean {
  return text.startsWith('apt_');
}
