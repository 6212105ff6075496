// The instance page's forms: the backup download with its live bar, the
// edit form (path, password, body limit, trace flags, external database)
// and the delete, which asks first.
import { useState } from 'preact/hooks';
import { TRACE_FLAGS, type TraceFlag } from '../../trace';
import { api, ApiError } from '../api';
import { useConfirm } from '../confirm';
import { ErrorText } from '../components/errors';
import { Progress } from '../components/progress';
import { bytes } from '../format';
import { useEvents } from '../hooks/events';
import { useRefresh } from '../hooks/fetch';
import { go } from '../router';
import type { Instance } from '../types';

const FLAG_NAMES: readonly TraceFlag[] = TRACE_FLAGS.map(([name]) => name);

/**
 * The backup download: the browser saves it (no copy in the page's memory);
 * the bar follows the bytes the box has sent, told on the event socket.
 * The database size is only an estimate of the file (pg_dump compresses), so
 * the bar stops short until the box says the file is complete.
 */
export function BackupDownload({ id, estimate }: { id: string; estimate: number | null }) {
  const [transfer, setTransfer] = useState<{ token: string; bytes: number; done: boolean; ok: boolean } | null>(null);
  useEvents((e) => {
    if (e.type === 'transfer') setTransfer((t) => (t && t.token === e.transfer ? { token: t.token, bytes: e.bytes, done: e.done, ok: e.ok } : t));
  });
  const start = (e: Event) => {
    const token = [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, '0')).join('');
    // The link is read after this handler: the download carries the new token.
    (e.currentTarget as HTMLAnchorElement).href = `/manager/api/backups/instances/${encodeURIComponent(id)}/download?transfer=${token}`;
    setTransfer({ token, bytes: 0, done: false, ok: false });
  };
  const share = !transfer ? 0 : transfer.done ? (transfer.ok ? 1 : 0) : Math.min(0.95, estimate ? transfer.bytes / estimate : 0);
  return (
    <>
      <a class="button" href={`/manager/api/backups/instances/${encodeURIComponent(id)}/download`} download onClick={start}>
        Download backup
      </a>
      {transfer && (
        <div class="transfer">
          <Progress share={share} label="backup download" />
          <span class="note">{transfer.done ? (transfer.ok ? `backup downloaded: ${bytes(transfer.bytes)}` : `the download was cut off after ${bytes(transfer.bytes)}`) : `${bytes(transfer.bytes)} sent…`}</span>
        </div>
      )}
    </>
  );
}

export function InstanceEdit({ instance, onSaved }: { instance: Instance; onSaved: () => void }) {
  const [path, setPath] = useState(instance.path);
  const [password, setPassword] = useState('');
  const [limit, setLimit] = useState(instance.maxBodyBytes === null ? '' : String(instance.maxBodyBytes / 1048576));
  const [flags, setFlags] = useState<TraceFlag[]>(instance.traceFlagNames);
  const [exclude, setExclude] = useState<boolean>(instance.excludeFromBackup);
  const [external, setExternal] = useState({ host: instance.external?.host ?? '', name: instance.external?.name ?? '', user: instance.external?.user ?? '', password: '' });
  const [state, setState] = useState<{ error?: unknown; saved?: boolean }>({});
  const save = async (e: Event) => {
    e.preventDefault();
    setState({});
    const changes: Record<string, unknown> = { path, traceFlags: flags, excludeFromBackup: exclude };
    if (password) changes.password = password;
    const mb = limit.trim();
    if (mb === '') changes.maxBodyBytes = null;
    else if (/^\d+(\.\d+)?$/.test(mb)) changes.maxBodyBytes = Math.round(Number(mb) * 1048576);
    else return setState({ error: new ApiError(400, 'INVALID_FIELD', `request body limit: "${mb}" is not a number of MB`, 'maxBodyBytes') });
    // The external database changes only when touched: a host with its password, or no host to go back to the local one.
    const was = instance.external;
    if (!external.host && was) changes.external = null;
    else if (external.host && (external.password || !was || external.host !== was.host || external.name !== was.name || external.user !== was.user)) {
      changes.external = { host: external.host, name: external.name, user: external.user, password: external.password };
    }
    try {
      await api('PATCH', `/instances/${encodeURIComponent(instance.id)}`, changes);
      setPassword('');
      setState({ saved: true });
      onSaved();
    } catch (err) {
      setState({ error: err });
    }
  };
  const ext = (key: keyof typeof external, label: string, type = 'text') => (
    <label>
      {label}
      <input type={type} name={`external.${key}`} value={external[key]} autocomplete="off" onInput={(e) => setExternal({ ...external, [key]: (e.target as HTMLInputElement).value })} />
    </label>
  );
  return (
    <form class="card" onSubmit={save}>
      <h2>Edit</h2>
      <label>
        Webserver path
        <input name="path" value={path} onInput={(e) => setPath((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        New instance password (empty: keep it)
        <input name="password" type="password" autocomplete="new-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Request body limit in MB (empty: the server's)
        <input name="maxBodyMb" inputMode="decimal" value={limit} onInput={(e) => setLimit((e.target as HTMLInputElement).value)} />
      </label>
      <label class="inline">
        <input type="checkbox" name="excludeFromBackup" checked={exclude} onChange={(e) => setExclude((e.target as HTMLInputElement).checked)} /> Exclude from backup
      </label>
      <details>
        <summary>Trace flags ({flags.length})</summary>
        <div class="flags">
          {FLAG_NAMES.map((f) => (
            <label key={f} class="inline">
              <input type="checkbox" checked={flags.includes(f)} onChange={(e) => setFlags((e.target as HTMLInputElement).checked ? [...flags, f] : flags.filter((x) => x !== f))} /> {f}
            </label>
          ))}
        </div>
      </details>
      <details>
        <summary>External database host</summary>
        <p class="note">The service uses this PostgreSQL database instead of its own. Empty host: the local one. A change needs the password.</p>
        {ext('host', 'Host[:port]')}
        {ext('name', 'Database name')}
        {ext('user', 'User')}
        {ext('password', 'Password', 'password')}
      </details>
      <button type="submit">Save</button>
      {state.saved && <span class="ok">saved</span>}
      <ErrorText error={state.error} />
    </form>
  );
}

export function InstanceDelete({ id }: { id: string }) {
  const refresh = useRefresh();
  const [drop, setDrop] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [ask, dialog] = useConfirm();
  const remove = async (e: Event) => {
    e.preventDefault();
    const consequence = drop ? (
      <p>The instance is stopped and removed, and its database and database user are dropped with all their data. This cannot be undone: download a backup first if you may need it.</p>
    ) : (
      <p>The instance is stopped and removed. Its database and database user are kept: ap ctl restore instance with --replace and its name@domain can put a backup into them again.</p>
    );
    if (!(await ask({ title: drop ? `Delete ${id} and its database?` : `Delete ${id}?`, consequence, confirm: drop ? 'Delete instance and database' : 'Delete instance' }))) return;
    try {
      await api('DELETE', `/instances/${encodeURIComponent(id)}${drop ? '?dropDatabase=true' : ''}`);
      refresh();
      go({ page: 'home' });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <form class="card danger" onSubmit={remove}>
        <h2>Delete</h2>
        <label class="inline">
          <input type="checkbox" name="dropDatabase" checked={drop} onChange={(e) => setDrop((e.target as HTMLInputElement).checked)} /> Also drop its database and database user
        </label>
        <button type="submit" class="danger">
          Delete instance
        </button>
        <ErrorText error={error} />
      </form>
      {/* Outside the form: the dialog's own form must not submit this one. */}
      {dialog}
    </>
  );
}
