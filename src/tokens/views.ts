// What the API says of tokens: the schemas with their types, one declaration
// (a leaf module: the Manager page imports the types). Never the secret or
// its hash, except the token's text once, in the answer that made it.
import { T, type Static } from '../api';

export const SCOPES = ['admin', 'read', 'installer', 'metrics'] as const;
export type Scope = (typeof SCOPES)[number];

export const ScopeView = T.Union(SCOPES.map((s) => T.Literal(s)), {
  description: 'admin: the whole API as a session may, but not log in, change the password or manage tokens; read: GET only, not the answers with passwords or whole databases; installer: /installer and below only; metrics: GET /manager/metrics only',
});

export const TokenView = T.Object({
  id: T.String({ description: 'public: the 16 hex digits after apt_ in the token' }),
  name: T.String(),
  scopes: T.Array(ScopeView),
  createdAt: T.String({ format: 'date-time' }),
  expiresAt: T.Union([T.String({ format: 'date-time' }), T.Null()], { description: 'null: never' }),
  lastUsedAt: T.Union([T.String({ format: 'date-time' }), T.Null()], { description: 'written at most once a minute per token, and not on a standby (its database is read-only)' }),
});
export type TokenView = Static<typeof TokenView>;

export const TokenCreated = T.Object({
  ...TokenView.properties,
  token: T.String({ description: 'apt_<id>_<secret>: shown this once and never again; send it as Authorization: Bearer <token>' }),
});
export type TokenCreated = Static<typeof TokenCreated>;
