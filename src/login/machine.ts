// The AppWebsocket login of one connection, as a pure state machine: text
// messages in, replies and a verdict out. Nothing reaches the app service
// before `ok`. A challenge is single-use: any AppLogin consumes it.
import { digestMatches, loginDigest, sessionKey, type Identity } from './digest';

export interface LoginConfig {
  /** The instance's password. */
  readonly password: string;
  /** The instance's domain, carried in AppLoginResult. */
  readonly domain: string;
}

export type LoginState =
  | { readonly phase: 'new' }
  | { readonly phase: 'challenged'; readonly challenge: string }
  | { readonly phase: 'done' };

export type LoginOutcome =
  /** Send `reply`; stay in `state`. */
  | { readonly kind: 'reply'; readonly state: LoginState; readonly reply: Record<string, unknown> }
  /** Send `reply`; the login failed (count it against the address). */
  | { readonly kind: 'failed'; readonly state: LoginState; readonly reply: Record<string, unknown> }
  /** Send `reply`; logged in: open the connection to the service with this identity and key. */
  | { readonly kind: 'ok'; readonly state: LoginState; readonly reply: Record<string, unknown>; readonly identity: Identity; readonly sessionKey: string }
  /** Close the connection: it spoke before logging in, or spoke nonsense. */
  | { readonly kind: 'close'; readonly code: number; readonly reason: string };

export const INITIAL_LOGIN: LoginState = Object.freeze({ phase: 'new' });
/** Shared by every logged-in connection: nothing of the login is kept per connection. */
const DONE: LoginState = Object.freeze({ phase: 'done' });

/**
 * One text message before login. `challenge` makes a new challenge (a port for
 * tests); `throttled` says whether this address may try now.
 */
export function loginStep(state: LoginState, text: string, config: LoginConfig, challenge: () => string, throttled: boolean): LoginOutcome {
  let message: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    message = parsed as Record<string, unknown>;
  } catch {
    return { kind: 'close', code: 1008, reason: 'log in first' };
  }
  switch (message.mt) {
    case 'AppChallenge': {
      const fresh = challenge();
      return { kind: 'reply', state: { phase: 'challenged', challenge: fresh }, reply: { mt: 'AppChallengeResult', challenge: fresh } };
    }
    case 'AppLogin': {
      const identity = readIdentity(message);
      const result = (ok: boolean) => ({ mt: 'AppLoginResult', app: identity?.app ?? '', domain: config.domain, ok });
      if (state.phase !== 'challenged' || identity === null || typeof message.digest !== 'string' || throttled) {
        return { kind: 'failed', state: INITIAL_LOGIN, reply: result(false) };
      }
      const expected = loginDigest(identity, state.challenge, config.password);
      if (!digestMatches(message.digest, expected)) return { kind: 'failed', state: INITIAL_LOGIN, reply: result(false) };
      return { kind: 'ok', state: DONE, reply: result(true), identity, sessionKey: sessionKey(state.challenge, config.password) };
    }
    default:
      return { kind: 'close', code: 1008, reason: 'log in first' };
  }
}

/** The identity fields of an AppLogin; null when one is not a string (or info not an object). */
function readIdentity(message: Record<string, unknown>): Identity | null {
  const field = (name: string): string | null => {
    const value = message[name];
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : null;
  };
  const [app, domain, sip, guid, dn] = ['app', 'domain', 'sip', 'guid', 'dn'].map(field);
  if (app === null || domain === null || sip === null || guid === null || dn === null) return null;
  const info = message.info;
  if (info !== undefined && (typeof info !== 'object' || info === null || Array.isArray(info))) return null;
  return { app: app!, domain: domain!, sip: sip!, guid: guid!, dn: dn!, info: (info as Record<string, unknown> | undefined) ?? null };
}
