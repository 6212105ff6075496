// The standby side of the Replication page: setting a box up as a standby of
// a primary (and a standby onto another primary), what a standby shows of
// its link, its promotion, and the wait while the box switches. A switch
// stops every part of the supervisor and composes it again, and Manager
// sessions live in memory: the page says so, waits until the box answers,
// and the login that follows says what happened.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { ErrorText } from '../components/errors';
import { DangerButton, useConfirm } from '../confirm';
import { duration, when } from '../format';
import type { Replication } from '../types';

type StandbyState = NonNullable<Replication['standby']>;

/** What the login says once, after a switch ended the session (read by pages/login.tsx). */
export const SWITCH_NOTE = 'ap-replication-switch';

/** A setup refusal in words that say what to do; the server's own words follow. */
function meaning(err: ApiError): string {
  switch (err.code) {
    case 'STANDBY_AUTH':
      return 'The primary refused the password: enter it exactly as the primary’s Replication page shows it for this standby name.';
    case 'STANDBY_UNKNOWN':
      return 'The primary has no standby of this name (or is not a primary): add the standby on the primary’s Replication page first, then use the name it shows.';
    case 'STANDBY_IN_USE':
      return 'Another box streams with this name from the primary now: every standby needs a name of its own (add another on the primary’s Replication page).';
    case 'PRIMARY_UNREACHABLE':
      return 'No connection to the primary: check the host and port (5432 unless given), and that the primary is in mode primary and reachable from this box.';
    case 'INVALID_FIELD':
      return err.field === 'primary'
        ? 'The primary is not a host name or IP address with an optional port (host:port, [IPv6]:port).'
        : err.field === 'name'
          ? 'The standby name is not a domain name (such as standby1.example.com).'
          : err.field === 'password'
            ? 'The password is missing or has characters a password from the primary never has.'
            : 'A field is not valid.';
    case 'BUSY':
      return 'Another replication change is under way on this box: wait for it to end.';
    case 'UNSUPPORTED':
      return 'This box cannot be made a standby.';
    default:
      return 'The setup failed; the box is as it was.';
  }
}

function SetupError({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error setup-error" role="alert">
      {error instanceof ApiError ? (
        <>
          {meaning(error)} <small>({error.code}: {error.message})</small>
        </>
      ) : (
        String(error)
      )}
    </p>
  );
}

/**
 * The form for a setup (off box) or a re-point (standby): primary, name and
 * password are checked by the box first (it answers CONFIRM_REQUIRED with
 * what goes once they are good), then the dialog asks, then the box copies.
 */
export function StandbySetup({ current, onSwitching }: { current?: StandbyState; onSwitching: (note: string) => void }) {
  const [primary, setPrimary] = useState('');
  const [name, setName] = useState(current?.name ?? '');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [copying, setCopying] = useState(false);
  const [ask, dialog] = useConfirm();
  const body = { mode: 'standby', primary: primary.trim(), name: name.trim(), password };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    let what: string;
    try {
      // Without confirm the box checks the fields and says what the switch removes.
      await api('PUT', '/replication', body);
      return;
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 'CONFIRM_REQUIRED')) return setError(err);
      what = err.message;
    }
    const question = current
      ? {
          title: `Follow ${body.primary} instead of ${current.primary.host}:${current.primary.port}?`,
          consequence: (
            <>
              <p>This standby stops following {current.primary.host}:{current.primary.port} and takes a full copy of the database of {body.primary} again, as at its first setup: it can take a while on a large database.</p>
              <p>The box then stops every part and starts again as a standby of {body.primary}; the Manager needs a new login.</p>
              <p class="note">The box says: {what}</p>
            </>
          ),
          confirm: 'Copy and follow the new primary',
        }
      : {
          title: `Make this box a standby of ${body.primary}?`,
          consequence: (
            <>
              <p>All locally installed apps are removed: every service and every instance with its database. The box’s database is replaced by a copy of the primary’s, and the box follows the primary from then on, read-only.</p>
              <p class="note">The box says: {what}</p>
              <p>The box then stops every part and starts again as a standby; the Manager needs a new login (the Manager password stays this box’s own).</p>
            </>
          ),
          confirm: 'Remove the apps and become a standby',
        };
    if (!(await ask(question))) return;
    setCopying(true);
    try {
      const answer = await api<Replication>('PUT', '/replication', { ...body, confirm: true });
      if (answer.standby?.switching) onSwitching(`The box took its copy of ${body.primary} and is starting again as a standby of it (standby name ${body.name}).`);
    } catch (err) {
      setError(err);
    } finally {
      setCopying(false);
    }
  };
  const invalid = (field: string) => (error instanceof ApiError && error.code === 'INVALID_FIELD' && error.field === field ? true : undefined);
  // The dialog holds a form of its own: it stays outside this one.
  return (
    <>
      <form class="card standby-setup" onSubmit={submit} aria-labelledby="standby-setup-title">
        <h2 id="standby-setup-title">{current ? 'Follow another primary' : 'Set up as standby'}</h2>
        <p class="note">
          {current
            ? 'After a failover: the promoted box’s address, and the name and password it shows for this standby (the same as before, unless it was added anew).'
            : 'First add this box as a standby on the primary’s Replication page; it shows the name and a password to use here.'}
        </p>
        <label>
          Primary (host or IP address, with :port unless it is 5432)
          <input name="primary" value={primary} aria-invalid={invalid('primary')} placeholder="primary.example.com:5432" onInput={(e) => setPrimary((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Standby name (as the primary shows it)
          <input name="name" value={name} aria-invalid={invalid('name')} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Password (as the primary shows it)
          <input name="password" type="password" autocomplete="off" value={password} aria-invalid={invalid('password')} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="danger" disabled={copying || primary.trim() === '' || name.trim() === '' || password === ''}>
          {current ? 'Follow this primary' : 'Become a standby'}
        </button>
        {copying && (
          <p class="note" role="status">
            Copying the primary’s database… This can take a while; the box goes on as it is until the copy is complete.
          </p>
        )}
        <SetupError error={error} />
      </form>
      {dialog}
    </>
  );
}

/** A standby's link to its primary, and its way out: promotion, or another primary. */
export function StandbyView({ s, onSwitching }: { s: StandbyState; onSwitching: (note: string) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [promoting, setPromoting] = useState(false);
  const from = `${s.primary.host}:${s.primary.port}`;
  const promote = (mode: 'off' | 'primary') => async () => {
    setError(null);
    setPromoting(true);
    try {
      await api('PUT', '/replication', { mode, confirm: true });
      onSwitching(mode === 'off' ? 'The box was promoted: it starts again as a standalone box, writable, in mode off.' : 'The box was promoted: it starts again as a primary, writable, offering the other standbys its database holds.');
    } catch (err) {
      setError(err);
    } finally {
      setPromoting(false);
    }
  };
  const after = <p>The box then stops every part and starts again; the Manager needs a new login. Following a primary again takes a full copy of its database.</p>;
  return (
    <>
      <p>This box is a standby: it follows its primary read-only. Apps and instances are changed on the primary.</p>
      <dl class="fields standby-state">
        <dt>Primary</dt>
        <dd class="primary">{from}</dd>
        <dt>Standby name</dt>
        <dd class="standby-name">{s.name}</dd>
        <dt>Streaming</dt>
        <dd class={`streaming ${s.streaming ? 'ok' : 'error'}`}>
          {s.streaming ? 'yes' : `no${s.receiverStatus ? ` (${s.receiverStatus})` : ' (no WAL receiver runs)'}`}
          {s.since && <small> since {when(s.since)}</small>}
        </dd>
        <dt>Received up to</dt>
        <dd class="received">{s.receivedLsn ?? '–'}</dd>
        <dt>Replayed up to</dt>
        <dd class="replayed">{s.replayedLsn ?? '–'}</dd>
        <dt>Replay delay</dt>
        <dd class="delay">{s.replayDelaySeconds === null ? '–' : s.replayDelaySeconds === 0 ? 'none (all received WAL is replayed)' : duration(s.replayDelaySeconds)}</dd>
      </dl>
      <h2>Failover</h2>
      <p class="note">Promote this standby when its primary is lost for good. Other standbys can then follow it.</p>
      <p>
        <DangerButton
          question={{
            title: 'Promote to a standalone box (off)?',
            consequence: (
              <>
                <p>This box stops following {from} for good and becomes a writable App Platform of its own, without replication: its apps and instances start with the data replicated so far.</p>
                <p>Make sure the old primary stays off (or is made a standby): two writable boxes with the same instances go apart.</p>
                {after}
              </>
            ),
            confirm: 'Promote to standalone',
          }}
          disabled={promoting}
          act={promote('off')}
        >
          Promote to standalone (off)
        </DangerButton>{' '}
        <DangerButton
          question={{
            title: 'Promote to primary?',
            consequence: (
              <>
                <p>This box stops following {from} for good and becomes a writable primary: its apps and instances start with the data replicated so far, and the other standbys listed in its database are offered again (each needs a new copy; its own entry goes).</p>
                <p>Make sure the old primary stays off (or is made a standby): two writable boxes with the same instances go apart.</p>
                {after}
              </>
            ),
            confirm: 'Promote to primary',
          }}
          disabled={promoting}
          act={promote('primary')}
        >
          Promote to primary
        </DangerButton>
      </p>
      {promoting && (
        <p class="note" role="status">
          Promoting: PostgreSQL finishes replaying what it received and becomes writable…
        </p>
      )}
      <ErrorText error={error} />
    </>
  );
}

/**
 * While the box switches: it answered and stops every part. Its sessions go
 * with them, so the box is back once /session answers without ours (401);
 * the page then loads again and the login says what happened.
 */
export function Switching({ note }: { note: string }) {
  const [seconds, setSeconds] = useState(0);
  useEffect(() => {
    sessionStorage.setItem(SWITCH_NOTE, note);
    const started = Date.now();
    let stopped = false;
    const look = async () => {
      while (!stopped) {
        await new Promise((r) => setTimeout(r, 1000));
        setSeconds(Math.round((Date.now() - started) / 1000));
        try {
          await api('GET', '/session');
          // Still our session: the old composition has not stopped yet.
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) {
            location.reload();
            return;
          }
          // Not answering (a network error): the box is starting again.
        }
      }
    };
    void look();
    return () => {
      stopped = true;
    };
  }, [note]);
  return (
    <div class="card switching" role="status">
      <p>{note}</p>
      <p>
        Every app and the Manager stop and start again; this page waits for the box ({seconds} s so far) and then asks for a new login, since the Manager’s sessions do not outlive the switch.
      </p>
      {seconds > 300 && <p class="error">The box has not come back for {Math.floor(seconds / 60)} minutes: the supervisor’s log on the box says why.</p>}
    </div>
  );
}
