// API tokens (docs/api.md): what scripts, Prometheus and the PBX Manager's App
// Installer use instead of a login. Made here with a name, scopes and an
// optional expiry; the new token is shown once, with a copy button, since the
// box keeps only its hash; revoked after a question.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { DangerButton } from '../confirm';
import { CopyButton } from '../components/copy';
import { ErrorText } from '../components/errors';
import { when } from '../format';
import { useFetch, useRefresh } from '../hooks/fetch';
import type { Scope, Token, TokenCreated } from '../types';

const SCOPE_NOTES: Readonly<Record<Scope, string>> = {
  admin: 'admin: the whole API, as the Manager (but not its password, nor tokens)',
  read: 'read: read the state, change nothing (not passwords or backups)',
  installer: "installer: the App Installer's routes (/installer) only",
  metrics: 'metrics: /manager/metrics only (Prometheus)',
};

/** A time as every page shows it ("2026-12-01 14:05"), or `none`. */
const shown = (iso: string | null, none: string) => (iso ? when(iso) : none);

function Created({ token, onDone }: { token: TokenCreated; onDone: () => void }) {
  return (
    <div class="card created-token" role="status">
      <p>
        <strong>Token {token.name} is made. Copy it now: it is not shown again</strong> (the box keeps only a hash of it).
      </p>
      <p>
        <code class="token">{token.token}</code> <CopyButton text={token.token} what={`the token ${token.name}`} />
      </p>
      <p class="note">Send it as the header Authorization: Bearer &lt;token&gt;.</p>
      <button type="button" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

export function TokensPage() {
  const { data, error, reload } = useFetch<{ tokens: Token[] }>('/tokens', { live: true });
  const refresh = useRefresh();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<TokenCreated | null>(null);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const act = async (fn: () => Promise<void>) => {
    setActionError(null);
    setBusy(true);
    try {
      await fn();
      refresh();
      await reload();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };
  const create = (e: Event) => {
    e.preventDefault();
    void act(async () => {
      setCreated(await api<TokenCreated>('POST', '/tokens', { name, scopes, ...(days.trim() ? { expiresInDays: Number(days) } : {}) }));
      setName('');
      setDays('');
    });
  };
  const toggle = (scope: Scope, on: boolean) => setScopes(on ? [...scopes, scope] : scopes.filter((s) => s !== scope));
  return (
    <section class="tokens">
      <h1>API tokens</h1>
      <p>
        Scripts, Prometheus and the PBX Manager's App Installer call the Manager's API with a token instead of a login. Each has a name and scopes, and may expire.
      </p>
      {created && <Created token={created} onDone={() => setCreated(null)} />}
      <ErrorText error={error} />
      {data && data.tokens.length === 0 && <p>No tokens yet.</p>}
      {data && data.tokens.length > 0 && (
        <div class="table-scroll">
          <table class="tokens">
            <thead>
              <tr>
                <th>Name</th>
                <th>Scopes</th>
                <th>Created</th>
                <th>Expires</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {data.tokens.map((t) => (
                <tr key={t.id} data-token={t.name}>
                  <th scope="row">
                    {t.name} <small>({t.id})</small>
                  </th>
                  <td>{t.scopes.join(', ')}</td>
                  <td>{shown(t.createdAt, '')}</td>
                  <td>{shown(t.expiresAt, 'never')}</td>
                  <td>{shown(t.lastUsedAt, 'never')}</td>
                  <td>
                    <DangerButton
                      disabled={busy}
                      question={{
                        title: `Revoke token ${t.name}?`,
                        consequence: <p>Whatever uses it is refused from its next request. This cannot be undone: it would need a new token.</p>,
                        confirm: 'Revoke token',
                      }}
                      act={() => act(async () => void (await api('DELETE', `/tokens/${encodeURIComponent(t.id)}`)))}
                    >
                      Revoke
                    </DangerButton>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>New token</h2>
      <form onSubmit={create}>
        <label>
          Name (letters, digits, ".", "_" or "-"; e.g. prometheus)
          <input name="name" value={name} maxLength={40} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {(Object.keys(SCOPE_NOTES) as Scope[]).map((scope) => (
            <label key={scope} class="inline">
              <input type="checkbox" name="scope" value={scope} checked={scopes.includes(scope)} onChange={(e) => toggle(scope, (e.target as HTMLInputElement).checked)} /> {SCOPE_NOTES[scope]}
            </label>
          ))}
        </fieldset>
        <label>
          Expires after days (empty: never)
          <input name="expiresInDays" type="number" min={1} max={3650} value={days} onInput={(e) => setDays((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" disabled={busy || name.trim() === '' || scopes.length === 0}>
          Create token
        </button>
      </form>
      <ErrorText error={actionError} />
    </section>
  );
}
