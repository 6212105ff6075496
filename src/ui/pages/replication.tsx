// Replication (the seed: "next to the settings button"): the mode, where
// PostgreSQL listens for standbys, and each standby with its password to hand
// over, whether it streams, how far behind it is and the WAL kept for it.
// Standbys are added here and removed after a question; turning replication
// off asks first. Lag is looked at again every 10 s while the page is open.
// The standby side (setup, its link, promotion) is replication-standby.tsx.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { DangerButton } from '../confirm';
import { CopyButton } from '../components/copy';
import { ErrorText } from '../components/errors';
import { bytes, duration, when } from '../format';
import { useFetch, useRefresh } from '../hooks/fetch';
import type { Replication, Standby } from '../types';
import { StandbySetup, StandbyView, Switching } from './replication-standby';

function Behind({ s }: { s: Standby }) {
  if (!s.connected) return <>{s.lagBytes === null ? '–' : `${bytes(s.lagBytes)} (not connected)`}</>;
  return (
    <>
      {s.lagBytes === null ? '–' : bytes(s.lagBytes)}, {s.lagSeconds === null ? '–' : duration(s.lagSeconds)}
    </>
  );
}

function StandbyRow({ s, act }: { s: Standby; act: (fn: () => Promise<unknown>) => void }) {
  return (
    <tr data-standby={s.name}>
      <th scope="row">{s.name}</th>
      <td>
        <code class="password">{s.password}</code> <CopyButton text={s.password} what={`the password of ${s.name}`} />
      </td>
      <td class={s.connected ? 'ok' : s.state === 'waiting' ? '' : 'error'}>
        {s.connected ? `yes (${s.state})` : s.state === 'waiting' ? 'not yet (new)' : 'no'}
        {s.since && <small> since {when(s.since)}</small>}
      </td>
      <td>
        <Behind s={s} />
      </td>
      <td>{s.retainedBytes === null ? '–' : bytes(s.retainedBytes)}</td>
      <td>
        <DangerButton
          question={{
            title: `Remove standby ${s.name}?`,
            consequence: (
              <>
                <p>Its role and its replication slot are removed on this primary: a standby streaming with them is disconnected at once and stops replicating.</p>
                <p>To replicate again it must be added anew, with a new password, and copy the whole database again.</p>
              </>
            ),
            confirm: 'Remove standby',
          }}
          act={() => act(() => api('DELETE', `/replication/standbys/${encodeURIComponent(s.name)}`))}
        >
          Remove
        </DangerButton>
      </td>
    </tr>
  );
}

export function ReplicationPage() {
  const { data, error, reload } = useFetch<Replication>('/replication', { live: true });
  const refresh = useRefresh();
  const [name, setName] = useState('');
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [switching, setSwitching] = useState<string | null>(null);
  const [following, setFollowing] = useState(false);
  useEffect(() => {
    const timer = setInterval(() => void reload(), 10_000);
    return () => clearInterval(timer);
  }, [reload]);
  const act = (fn: () => Promise<unknown>, after?: () => void) => {
    setActionError(null);
    setBusy(true);
    fn().then(
      () => {
        after?.();
        setBusy(false);
        refresh();
        void reload();
      },
      (err) => {
        setActionError(err);
        setBusy(false);
      },
    );
  };
  if (switching)
    return (
      <section class="replication">
        <h1>Replication</h1>
        <Switching note={switching} />
      </section>
    );
  if (!data) return <ErrorText error={error} />;
  const primary = data.mode === 'primary';
  const add = (e: Event) => {
    e.preventDefault();
    act(() => api('POST', '/replication/standbys', { name }), () => setName(''));
  };
  return (
    <section class="replication">
      <h1>Replication</h1>
      <p>
        Mode: <strong class="mode">{data.mode}</strong>
        {primary && (
          <>
            {' '}
            · PostgreSQL listens on {data.listen.addresses} port {data.listen.port} (TLS only){data.listen.active ? '' : ', not yet'}
          </>
        )}
      </p>
      {data.mode === 'off' && (
        <p>
          <button type="button" disabled={busy} onClick={() => act(() => api('PUT', '/replication', { mode: 'primary' }))}>
            Make this box a primary
          </button>{' '}
          PostgreSQL then also listens on port {data.listen.port} for its standbys (it restarts once).
        </p>
      )}
      {data.mode === 'off' && <StandbySetup onSwitching={setSwitching} />}
      {data.mode === 'standby' && data.standby && (
        <>
          <StandbyView s={data.standby} onSwitching={setSwitching} />
          {following ? (
            <StandbySetup current={data.standby} onSwitching={setSwitching} />
          ) : (
            <p>
              <button type="button" onClick={() => setFollowing(true)}>
                Follow another primary
              </button>
            </p>
          )}
        </>
      )}
      {primary && (
        <>
          <h2>
            Standbys ({data.standbys.length} of at most {data.maxStandbys})
          </h2>
          {data.standbys.length === 0 ? (
            <p>No standbys yet: add one below, then set the standby up with its name and password.</p>
          ) : (
            <div class="table-scroll">
              <table class="standbys">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Password</th>
                    <th>Connected</th>
                    <th>Behind (bytes, seconds)</th>
                    <th>WAL kept</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {data.standbys.map((s) => (
                    <StandbyRow key={s.name} s={s} act={act} />
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <p class="note">Give a standby its name and password exactly as shown. While one is away this primary keeps the WAL it has not fetched: bring it back or remove it before the disk fills.</p>
          {data.standbys.length < data.maxStandbys && (
            <form onSubmit={add}>
              <label>
                New standby (a domain name, e.g. standby1.example.com)
                <input name="standby" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
              </label>
              <button type="submit" disabled={busy || name.trim() === ''}>
                Add standby
              </button>
            </form>
          )}
          <p>
            <DangerButton
              disabled={busy}
              question={{
                title: 'Turn replication off?',
                consequence: (
                  <>
                    <p>PostgreSQL stops listening for standbys{data.standbys.length > 0 ? `, and the roles and slots of ${data.standbys.length} standby${data.standbys.length === 1 ? '' : 's'} are removed: they stop replicating` : ''}.</p>
                    {data.standbys.length > 0 && <p>Their names and passwords are kept; when replication is on again each needs a new copy of the whole database.</p>}
                  </>
                ),
                confirm: 'Turn replication off',
              }}
              act={() => act(() => api('PUT', '/replication', { mode: 'off', confirm: true }))}
            >
              Turn replication off
            </DangerButton>
          </p>
        </>
      )}
      <ErrorText error={actionError} />
    </section>
  );
}
