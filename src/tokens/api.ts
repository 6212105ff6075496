// The tokens in the admin API: listed, created, revoked, by a Manager session
// or by root over the admin socket (ap ctl token). The Manager's transport
// refuses a token's own request to create or revoke one (scopes.ts).
import { route, T, type ApiRoute } from '../api';
import type { ApiTokens } from './store';
import { ScopeView, TokenCreated, TokenView } from './views';

export function tokenRoutes(tokens: Pick<ApiTokens, 'list' | 'create' | 'revoke'>): ApiRoute[] {
  return [
    route({
      method: 'GET',
      pattern: '/tokens',
      summary: 'the API tokens: id, name, scopes, created, expires, last used (never a secret)',
      response: T.Object({ tokens: T.Array(TokenView) }),
      handler: async () => ({ tokens: await tokens.list() }),
    }),
    route({
      method: 'POST',
      pattern: '/tokens',
      status: 201,
      summary: 'create an API token ({"name", "scopes", "expiresInDays"?}): the answer holds the token, shown this once and never again (a session or root only: no token may)',
      body: T.Object({
        name: T.String({ description: '1 to 40 letters, digits, ".", "_" or "-", starting with a letter or digit; unique without case' }),
        scopes: T.Array(ScopeView, { minItems: 1 }),
        expiresInDays: T.Optional(T.Integer({ minimum: 1, maximum: 3650, description: 'none: it does not expire' })),
      }),
      response: TokenCreated,
      errors: ['EXISTS', 'CONFLICT'],
      handler: ({ body }) => tokens.create(body),
    }),
    route({
      method: 'DELETE',
      pattern: '/tokens/{id}',
      summary: 'revoke an API token: the very next request with it is refused (401)',
      response: T.Object({ revoked: T.String(), name: T.String() }),
      handler: ({ params }) => tokens.revoke(params.id!),
    }),
  ];
}
