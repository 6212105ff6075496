// `ap ctl token list | create <name> --scope S[,S…] [--expires-days N] | revoke <id-or-name>`:
// root's way to manage API tokens (docs/api.md), through the admin API's
// token resources. A created token is printed once, as the API answers it once.
import { ApError, UsageError } from '../errors';
import type { TokenCreated, TokenView } from '../tokens';

const USAGE = 'ap ctl token list | create <name> --scope admin[,read,installer,metrics] [--expires-days N] | revoke <id-or-name>';

type Call = <T>(method: string, path: string, body?: unknown) => Promise<T>;

/** Runs `ap ctl token <sub> [arg]`: the answer, and its text for people. */
export async function tokenCommand(sub: string | undefined, arg: string | undefined, flags: Readonly<Record<string, string>>, call: Call): Promise<{ value: unknown; text: string }> {
  const misplaced = ['scope', 'expires-days'].find((f) => flags[f] !== undefined);
  if (sub !== 'create' && misplaced) throw new UsageError(`--${misplaced} goes with "ap ctl token create" only\n\n${USAGE}`);
  if (sub === 'list' && arg === undefined) {
    const { tokens } = await call<{ tokens: TokenView[] }>('GET', '/tokens');
    return { value: tokens, text: tokens.length === 0 ? 'no API tokens' : tokens.map(formatToken).join('\n') };
  }
  if (sub === 'create' && arg !== undefined) {
    if (flags.scope === undefined) throw new UsageError(`ap ctl token create needs --scope\n\n${USAGE}`);
    const days = flags['expires-days'];
    if (days !== undefined && !/^\d{1,4}$/.test(days)) throw new UsageError(`invalid value "${days}" for --expires-days: expected whole days`);
    const created = await call<TokenCreated>('POST', '/tokens', { name: arg, scopes: flags.scope.split(','), ...(days === undefined ? {} : { expiresInDays: Number(days) }) });
    return { value: created, text: `${formatToken(created)}\nthe token, shown this once (it cannot be shown again):\n${created.token}` };
  }
  if (sub === 'revoke' && arg !== undefined) {
    // An id first: a name cannot take another token's id from it.
    const { tokens } = await call<{ tokens: TokenView[] }>('GET', '/tokens');
    const found = tokens.find((t) => t.id === arg) ?? tokens.find((t) => t.name.toLowerCase() === arg.toLowerCase());
    if (!found) throw new ApError('NOT_FOUND', `no API token with the id or name ${arg} (ap ctl token list shows them)`);
    const revoked = await call<{ revoked: string; name: string }>('DELETE', `/tokens/${encodeURIComponent(found.id)}`);
    return { value: revoked, text: `API token ${revoked.name} (${revoked.revoked}) revoked` };
  }
  throw new UsageError(USAGE);
}

function formatToken(t: TokenView): string {
  return `${t.id}  ${t.name.padEnd(20)} ${t.scopes.join(',').padEnd(12)} created ${t.createdAt}, expires ${t.expiresAt ?? 'never'}, last used ${t.lastUsedAt ?? 'never'}`;
}
