// The login, and the Manager password change (forced while it is the default).
import { useState } from 'preact/hooks';
import { api, setCsrf } from '../api';
import { ErrorText } from '../components/errors';
import type { Session } from '../types';
import { SWITCH_NOTE } from './replication-standby';

export function Login({ onLogin }: { onLogin: (s: Session) => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  // A replication switch ended the last session (src/ui/pages/replication-standby.tsx): say so once.
  const [switched] = useState(() => sessionStorage.getItem(SWITCH_NOTE));
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const s = await api<Session>('POST', '/session', { password });
      setCsrf(s.csrf);
      sessionStorage.removeItem(SWITCH_NOTE);
      onLogin(s);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card narrow" onSubmit={submit}>
      <h1>App Platform Manager</h1>
      {switched && (
        <p class="note switched" role="status">
          {switched} The Manager started again with it: log in again.
        </p>
      )}
      <label>
        Password
        <input type="password" name="password" autocomplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} autofocus />
      </label>
      <button type="submit">Log in</button>
      <ErrorText error={error} />
    </form>
  );
}

export function ChangePassword({ forced, onDone }: { forced: boolean; onDone: () => void }) {
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await api('POST', '/password', { current, password });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card narrow" onSubmit={submit}>
      <h1>{forced ? 'Choose a new Manager password' : 'Change the Manager password'}</h1>
      {forced && <p>The password is still the default. Choose your own (at least 8 characters; not a common or breached password, one character repeated, a keyboard or alphabet run, or a word such as "admin" or "manager") before anything else.</p>}
      <label>
        Current password
        <input type="password" name="current" autocomplete="current-password" value={current} onInput={(e) => setCurrent((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        New password
        <input type="password" name="new" autocomplete="new-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Save</button>
      <ErrorText error={error} />
    </form>
  );
}
