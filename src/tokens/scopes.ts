// What each scope lets a token do on /manager/api/ (docs/api.md), pure. A
// token is a program's grant, never a person's: the transport's session
// routes (log in and out, the Manager password, the event socket) and
// creating or revoking tokens stay with a Manager session and root's ap ctl.
import type { Scope } from './views';

/** The API's first path segments that a token may never use. */
const SESSION_ONLY = new Set(['session', 'password', 'events']);

/**
 * Null when a token with `scopes` may call `method path` (below /manager/api),
 * else why not, naming the scope it needs. `secret`: the route's answer holds
 * passwords or a whole database (ApiRoute.secret), which `read` does not reach.
 */
export function scopeRefusal(scopes: readonly Scope[], method: string, path: string, secret = false): string | null {
  // Segments as the route table matches them (src/api), so "//installer" is what the table serves for it.
  const segments = path.split('/').filter((s) => s !== '');
  const first = segments[0] ?? '';
  if (SESSION_ONLY.has(first) && segments.length === 1) return `an API token cannot use ${path}: logging in, the Manager password and the event socket are for a person's session`;
  if (first === 'tokens' && method !== 'GET') return 'an API token cannot create or revoke tokens: a Manager session can, or root with ap ctl token';
  const installer = first === 'installer';
  const allowed = scopes.some((scope) => scope === 'admin' || (scope === 'read' && method === 'GET' && !secret) || (scope === 'installer' && installer));
  if (allowed) return null;
  const needed = installer ? 'installer' : method === 'GET' && !secret ? 'read' : 'admin';
  const why = secret && method === 'GET' && !installer ? ' (its answer holds passwords or a whole database, which the read scope does not reach)' : '';
  return `this token (scopes ${scopes.join(', ')}) may not ${method} ${path}: that needs the ${needed} scope${needed === 'admin' ? '' : ' (or admin)'}${why}`;
}

/** Whether a token with `scopes` may read /manager/metrics. */
export function readsMetrics(scopes: readonly Scope[]): boolean {
  return scopes.includes('metrics') || scopes.includes('admin');
}
