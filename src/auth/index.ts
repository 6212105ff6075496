// The Manager's login (OWASP ASVS level 1 as the floor): one password, stored
// only as an argon2id hash in the config table (default "pwd", as the seed
// says, and while it is the default a session may do nothing but choose a new
// one); sessions as random tokens kept hashed in memory, with idle and absolute
// expiry; a CSRF token per session; password checks (logins, and the current
// password of a change) throttled per address as they arrive, bounded in
// number (gate.ts), and logged when they fail. API tokens (src/tokens) are
// counted by the same throttle.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Settings } from '../db';
import { ApError, InvalidField } from '../errors';
import type { Logger } from '../log';
import { LoginGate, type GateOptions } from './gate';
import type { PasswordHasher } from './hash';
import { checkNewPassword, MAX_PASSWORD } from './rules';

export { inlineHasher, workerHasher, runPasswordWorker, type PasswordHasher } from './hash';
export { authRoutes } from './api';
export { checkNewPassword, MIN_PASSWORD, MAX_PASSWORD } from './rules';

export const DEFAULT_PASSWORD = 'pwd';
const HASH_SETTING = 'managerPassword';
const DEFAULT_SETTING = 'managerPasswordIsDefault';
export interface Session {
  readonly csrf: string;
  readonly remote: string;
  readonly createdAt: number;
  lastSeen: number;
  mustChangePassword: boolean;
}

export interface AuthOptions {
  readonly settings: Settings;
  readonly hasher: PasswordHasher;
  readonly log: Logger;
  readonly now?: () => number;
  readonly idleMs?: number;
  readonly absoluteMs?: number;
  /** How many password checks may be in flight, per address and overall. */
  readonly gate?: GateOptions;
}

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

/**
 * Sessions kept at most: a script that logs in every minute and never logs
 * out would otherwise keep a session per login until it is looked up again
 * (never), and the box's memory is small. The least recently used goes first.
 */
export const MAX_SESSIONS = 1000;

export class ManagerAuth {
  private readonly sessions = new Map<string, Session>();
  private readonly gate: LoginGate;
  private readonly ended: (() => void)[] = [];
  private readonly now: () => number;

  constructor(private readonly options: AuthOptions) {
    this.now = options.now ?? Date.now;
    this.gate = new LoginGate(undefined, options.gate);
  }

  /** Stores the default password's hash at first start, so a hash is all there ever is. */
  async start(): Promise<void> {
    if ((await this.options.settings.get(HASH_SETTING)) !== null) return;
    await this.options.settings.set(HASH_SETTING, await this.options.hasher.hash(DEFAULT_PASSWORD));
    await this.options.settings.set(DEFAULT_SETTING, 'true');
  }

  /** Ends the password-hash worker (it is this part's). */
  async stop(): Promise<void> {
    await this.options.hasher.stop();
  }

  /** Checks the password; a new session (token for the cookie, CSRF token for requests). */
  async login(password: unknown, remote: string): Promise<{ token: string; session: Session }> {
    const at = this.now();
    if (!(await this.checkPassword(password, remote, 'login'))) {
      this.options.log.warn(`Manager login from ${remote} failed`);
      throw new ApError('LOGIN_FAILED', 'wrong password');
    }
    const token = randomBytes(32).toString('base64url');
    const session: Session = {
      csrf: randomBytes(24).toString('base64url'),
      remote,
      createdAt: at,
      lastSeen: at,
      mustChangePassword: (await this.options.settings.get(DEFAULT_SETTING)) === 'true',
    };
    this.prune(at);
    this.sessions.set(digest(token), session);
    this.options.log.info(`Manager login from ${remote}${session.mustChangePassword ? ' (the default password must be changed)' : ''}`);
    return { token, session };
  }

  /** Whether `password` is the Manager password, checked through the gate (the attempt is counted before the hash). */
  private async checkPassword(password: unknown, remote: string, what: string): Promise<boolean> {
    let attempt;
    try {
      attempt = this.gate.admit(remote, this.now());
    } catch (err) {
      this.options.log.warn(`Manager ${what} from ${remote} refused: ${(err as Error).message}`);
      throw err;
    }
    let ok = false;
    try {
      const stored = await this.options.settings.get(HASH_SETTING);
      ok = typeof password === 'string' && password.length <= MAX_PASSWORD && stored !== null && (await this.options.hasher.verify(stored, password));
      return ok;
    } finally {
      if (ok) attempt.succeeded();
      else attempt.failed();
    }
  }

  /** Whether `remote` is locked out by failed logins (or API tokens, src/tokens). */
  lockedOut(remote: string): boolean {
    return this.gate.locked(remote, this.now());
  }

  /** Counts a bad API token against `remote` in the login throttle. */
  failed(remote: string): void {
    this.gate.failed(remote, this.now());
  }

  /** The live session of `token`, or null (unknown, idle too long, or too old); a use counts as activity. */
  session(token: string | null): Session | null {
    const session = this.peek(token);
    if (!session) return session;
    session.lastSeen = this.now();
    // Kept in the order of use: the first is the least recently used (prune).
    const key = digest(token!);
    this.sessions.delete(key);
    this.sessions.set(key, session);
    return session;
  }

  private expired(session: Session, at: number): boolean {
    return at - session.lastSeen > (this.options.idleMs ?? 30 * 60_000) || at - session.createdAt > (this.options.absoluteMs ?? 12 * 3600_000);
  }

  /** Before a session is added: the expired ones go, and the least recently used while there are too many. */
  private prune(at: number): void {
    for (const [key, session] of this.sessions) if (this.expired(session, at)) this.sessions.delete(key);
    for (const key of this.sessions.keys()) {
      if (this.sessions.size < MAX_SESSIONS) break;
      this.sessions.delete(key);
    }
  }

  /** The live session of `token` without counting this as activity (the event socket asks often), or null. */
  peek(token: string | null): Session | null {
    if (!token) return null;
    const key = digest(token);
    const session = this.sessions.get(key);
    if (!session) return null;
    if (this.expired(session, this.now())) {
      this.sessions.delete(key);
      return null;
    }
    return session;
  }

  /** `listener` hears when sessions were ended (logout, password change): the event sockets close theirs. */
  onSessionsEnded(listener: () => void): void {
    this.ended.push(listener);
  }

  logout(token: string | null): void {
    if (token) this.sessions.delete(digest(token));
    this.announceEnded();
  }

  private announceEnded(): void {
    for (const listener of this.ended) listener();
  }

  /** Whether `given` is the session's CSRF token (constant time). */
  csrfMatches(session: Session, given: string | null): boolean {
    if (!given) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /**
   * Sets a new password (the current one is asked again, throttled with the
   * logins of `remote`, the session's address unless given); every other session ends.
   */
  async changePassword(token: string, current: unknown, next: unknown, remote?: string): Promise<void> {
    const key = digest(token);
    const session = this.sessions.get(key);
    if (!session) throw new ApError('UNAUTHENTICATED', 'log in first');
    const password = checkNewPassword(next);
    const from = remote ?? session.remote;
    if (!(await this.checkPassword(current, from, 'password change'))) {
      this.options.log.warn(`Manager password change from ${from} refused: the current password is wrong`);
      throw new InvalidField('current', 'the current password is wrong');
    }
    await this.options.settings.set(HASH_SETTING, await this.options.hasher.hash(password));
    await this.options.settings.set(DEFAULT_SETTING, 'false');
    for (const k of [...this.sessions.keys()]) if (k !== key) this.sessions.delete(k);
    session.mustChangePassword = false;
    this.options.log.info(`the Manager password was changed (from ${session.remote}); other sessions ended`);
    this.announceEnded();
  }

  /** Sets a password without the current one (root, through `ap ctl password`, for a forgotten one): every session ends. */
  async resetPassword(next: unknown): Promise<void> {
    const password = checkNewPassword(next);
    await this.options.settings.set(HASH_SETTING, await this.options.hasher.hash(password));
    await this.options.settings.set(DEFAULT_SETTING, 'false');
    this.sessions.clear();
    this.options.log.info('the Manager password was set from the admin socket (ap ctl password); every session ended');
    this.announceEnded();
  }

  /** Sessions alive now (for the diagnostics). */
  get count(): number {
    return this.sessions.size;
  }
}
