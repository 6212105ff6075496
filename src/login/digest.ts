// The PBX login's arithmetic (DESIGN.md, "PBX login"): digests and the session key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** What an AppLogin message says about who logs in. Absent fields are empty strings. */
export interface Identity {
  readonly app: string;
  readonly domain: string;
  readonly sip: string;
  readonly guid: string;
  readonly dn: string;
  /** The `info` object, or null when the message carried none (the password login of admin UIs and scripts). */
  readonly info: Record<string, unknown> | null;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** A fresh challenge: 16 random bytes as hex. */
export function newChallenge(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The digest a client must send: lowercase hex SHA-256 of
 * app:domain:sip:guid:dn:info:challenge:password (info as its JSON text), or
 * of app:domain:sip:guid:dn:challenge:password when there is no info.
 */
export function loginDigest(identity: Identity, challenge: string, password: string): string {
  const { app, domain, sip, guid, dn, info } = identity;
  const parts = info === null ? [app, domain, sip, guid, dn, challenge, password] : [app, domain, sip, guid, dn, JSON.stringify(info), challenge, password];
  return sha256(parts.join(':'));
}

/** The session key clients use to protect values they send: hex SHA-256 of innovaphoneAppSessionKey:<challenge>:<password>. */
export function sessionKey(challenge: string, password: string): string {
  return sha256(`innovaphoneAppSessionKey:${challenge}:${password}`);
}

/** Compares a client's digest with the expected one in constant time (for digests of equal length). */
export function digestMatches(sent: string, expected: string): boolean {
  const a = Buffer.from(sent.toLowerCase(), 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // Lengths are public (64 hex digits); only equal lengths are compared in constant time.
  return a.length === b.length && timingSafeEqual(a, b);
}
