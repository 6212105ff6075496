// The API tokens in the manager database (table api_tokens, src/db
// migrations): made, listed, revoked, and checked on every request that
// carries one. A check is one lookup by the public id and one hash; a bad
// token counts against its address in the login throttle, as a wrong password
// does, so guessing is as slow as there. Revoking deletes the row: the very
// next request with it is unknown.
import type { Sql } from 'postgres';
import { SQLSTATE, sqlState } from '../db';
import { ApError, describe, InvalidField } from '../errors';
import type { Logger } from '../log';
import { readsMetrics } from './scopes';
import { bearerToken, looksLikeToken, mintToken, parseToken, secretMatches } from './token';
import type { Scope, TokenCreated, TokenView } from './views';

/** Names: short, for people and for ap ctl token revoke. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$/;
/** The table is read whole for the list: kept small. */
export const MAX_TOKENS = 100;
/** The last use is written at most this often per token. */
const TOUCH_EVERY_MS = 60_000;

/** The login throttle, for a credential checked without the password hash queue. */
export interface TokenThrottle {
  /** Whether `remote` is locked out now by failed logins or tokens. */
  lockedOut(remote: string): boolean;
  /** Counts one failure against `remote`. */
  failed(remote: string): void;
}

export interface ApiTokensOptions {
  readonly sql: Sql;
  /** A standby's (or a stray recovering cluster's) database is read-only: tokens authenticate there, their last use is not written. */
  readonly readOnly: boolean;
  readonly throttle: TokenThrottle;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Who a valid token is. */
export interface Grant {
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
}

interface Row {
  id: string;
  name: string;
  scopes: Scope[];
  secret_sha256: Buffer;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
}

const view = (r: Row): TokenView => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes,
  createdAt: r.created_at.toISOString(),
  expiresAt: r.expires_at?.toISOString() ?? null,
  lastUsedAt: r.last_used_at?.toISOString() ?? null,
});

export class ApiTokens {
  /** When each token's last use was written, by id. */
  private readonly touched = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: ApiTokensOptions) {
    this.now = options.now ?? Date.now;
  }

  async list(): Promise<TokenView[]> {
    const rows = await this.options.sql<Row[]>`SELECT id, name, scopes, created_at, expires_at, last_used_at FROM api_tokens ORDER BY created_at, name`;
    return rows.map(view);
  }

  /** A new token; its text is in this answer only. */
  async create(input: { readonly name: string; readonly scopes: readonly Scope[]; readonly expiresInDays?: number }): Promise<TokenCreated> {
    const { name } = input;
    if (!NAME.test(name)) throw new InvalidField('name', 'a token name is 1 to 40 letters, digits, ".", "_" or "-", starting with a letter or digit');
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0) throw new InvalidField('scopes', 'give a token at least one scope: admin, read, installer or metrics');
    const days = input.expiresInDays;
    if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650)) throw new InvalidField('expiresInDays', 'expected whole days from 1 to 3650 (or none: the token does not expire)');
    const minted = mintToken();
    const created = new Date(this.now());
    const expires = days === undefined ? null : new Date(created.getTime() + days * 86_400_000);
    try {
      await this.options.sql.begin(async (tx) => {
        // Counted and inserted under one lock, so two creates cannot both pass the count.
        await tx`LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE`;
        const [row] = await tx<{ count: number }[]>`SELECT count(*)::int AS count FROM api_tokens`;
        if (row!.count >= MAX_TOKENS) throw new ApError('CONFLICT', `there are ${MAX_TOKENS} tokens already: revoke one first`);
        await tx`INSERT INTO api_tokens (id, name, scopes, secret_sha256, created_at, expires_at) VALUES (${minted.id}, ${name}, ${scopes}, ${minted.hash}, ${created}, ${expires})`;
      });
    } catch (err) {
      if (sqlState(err) === SQLSTATE.uniqueViolation) throw new ApError('EXISTS', `a token named ${name} exists already (names are compared without case)`);
      throw err;
    }
    this.options.log.info(`API token ${name} (${minted.id}) created with scope ${scopes.join(',')}${expires ? `, expires ${expires.toISOString()}` : ''}`);
    return { id: minted.id, name, scopes, createdAt: created.toISOString(), expiresAt: expires?.toISOString() ?? null, lastUsedAt: null, token: minted.text };
  }

  /** Revokes the token `id`; NOT_FOUND when there is none. */
  async revoke(id: string): Promise<{ revoked: string; name: string }> {
    const [row] = await this.options.sql<{ name: string }[]>`DELETE FROM api_tokens WHERE id = ${id} RETURNING name`;
    if (!row) throw new ApError('NOT_FOUND', `no API token ${id} (ap ctl token list, or GET /manager/api/tokens, shows them)`);
    this.touched.delete(id);
    this.options.log.info(`API token ${row.name} (${id}) revoked`);
    return { revoked: id, name: row.name };
  }

  /**
   * Who the token `text` (from `remote`) is. An unknown, malformed, revoked
   * or expired one is UNAUTHENTICATED and counted against the address;
   * TOO_MANY_ATTEMPTS, without a look, while the address is locked out.
   */
  async authenticate(text: string, remote: string): Promise<Grant> {
    const { throttle, log } = this.options;
    if (throttle.lockedOut(remote)) {
      log.warn(`API token from ${remote} refused: too many failed attempts from this address`);
      throw new ApError('TOO_MANY_ATTEMPTS', 'too many failed attempts from this address; wait a minute');
    }
    const refuse = (why: string, message: string): never => {
      throttle.failed(remote);
      // The id is public; the text is a secret and stays out of the log.
      log.warn(`API token from ${remote} refused: ${why}`);
      throw new ApError('UNAUTHENTICATED', message);
    };
    const parsed = parseToken(text);
    if (!parsed) return refuse('not a token', 'the Authorization header holds no App Platform API token (Bearer apt_<id>_<secret>)');
    const [row] = await this.options.sql<Row[]>`SELECT id, name, scopes, secret_sha256, expires_at FROM api_tokens WHERE id = ${parsed.id}`;
    if (!row || !secretMatches(parsed.secret, row.secret_sha256)) return refuse(`unknown token ${parsed.id}`, 'the API token is unknown or was revoked');
    const at = this.now();
    if (row.expires_at && row.expires_at.getTime() <= at) return refuse(`token ${row.name} (${row.id}) expired`, `the API token ${row.name} expired at ${row.expires_at.toISOString()}`);
    this.touch(row.id, at);
    return { id: row.id, name: row.name, scopes: row.scopes };
  }

  /**
   * Whether the Authorization header holds a valid token that may read
   * /manager/metrics. A bad token of ours is counted as on the API; any other
   * bearer (the older shared metricsToken setting) is not this part's to judge.
   */
  async allowsMetrics(authorization: string, remote: string): Promise<boolean> {
    const text = bearerToken(authorization);
    if (text === null || !looksLikeToken(text)) return false;
    try {
      return readsMetrics((await this.authenticate(text, remote)).scopes);
    } catch (err) {
      // Refused (unknown, expired, throttled): the other rules decide. The database failing is not a refusal.
      if (err instanceof ApError) return false;
      throw err;
    }
  }

  /** Writes the last use, at most once a minute per token; a failure is logged, never the request's. */
  private touch(id: string, at: number): void {
    if (this.options.readOnly || at - (this.touched.get(id) ?? -Infinity) < TOUCH_EVERY_MS) return;
    this.touched.set(id, at);
    this.options.sql`UPDATE api_tokens SET last_used_at = ${new Date(at)} WHERE id = ${id}`.then(
      () => {},
      (err: unknown) => this.options.log.warn(`the last use of API token ${id} was not written: ${describe(err)}`),
    );
  }
}
