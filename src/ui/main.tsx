// The App Platform Manager in the browser: login (and the forced change of the
// default password), a tree of services and their instances as on the
// vendor's Manager, instance pages, settings, system charts. Preact and uPlot,
// no CDN, no external fonts; hash routes so every page has an address.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, ApiError, connectEvents, disconnectEvents, follow, setCsrf, subscribe, upload } from './api';
import { backupOf, CleanupButton, RestoreQuestion } from './dangerous';
import { DangerButton, useConfirm, type Question } from './confirm';
import './style.css';

type Session = { csrf: string; mustChangePassword: boolean } | null;

function useRoute(): string {
  const [route, setRoute] = useState(location.hash.slice(1) || '/');
  useEffect(() => {
    const on = () => setRoute(location.hash.slice(1) || '/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function ErrorText({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof ApiError ? error.message : String(error);
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

function Login({ onLogin }: { onLogin: (s: Session) => void }) {
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const s = await api('POST', '/session', { password });
      setCsrf(s.csrf);
      onLogin(s);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="card narrow" onSubmit={submit}>
      <h1>App Platform Manager</h1>
      <label>
        Password
        <input type="password" name="password" autocomplete="current-password" value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} autofocus />
      </label>
      <button type="submit">Log in</button>
      <ErrorText error={error} />
    </form>
  );
}

function ChangePassword({ forced, onDone }: { forced: boolean; onDone: () => void }) {
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

function Tree({ tick }: { tick: number }) {
  const [services, setServices] = useState<any[]>([]);
  const [instances, setInstances] = useState<any[]>([]);
  useEffect(() => {
    void api('GET', '/services').then((r) => setServices(r.services), () => {});
    void api('GET', '/instances').then((r) => setInstances(r.instances), () => {});
  }, [tick]);
  return (
    <nav class="tree" aria-label="Services and instances">
      <a href="#/">Manager</a>
      <ul>
        {services.map((s) => (
          <li key={s.name}>
            <a href={`#/service/${s.name}`}>
              {s.name} <span class={`state ${s.state}`}>{s.state}</span>
            </a>
            <ul>
              {instances
                .filter((i) => i.service === s.name)
                .map((i) => (
                  <li key={i.id}>
                    <a href={`#/instance/${encodeURIComponent(i.id)}`}>
                      {i.id} <span class={`state ${i.state}`}>{i.state}</span>
                    </a>
                  </li>
                ))}
            </ul>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function Home({ refresh, tick }: { refresh: () => void; tick: number }) {
  const [status, setStatus] = useState<any>(null);
  const [alarms, setAlarms] = useState<any[]>([]);
  const [form, setForm] = useState({ service: '', name: '', domain: '', password: '', path: '', dbName: '', dbUser: '' });
  const [error, setError] = useState<unknown>(null);
  const [services, setServices] = useState<any[]>([]);
  useEffect(() => {
    void api('GET', '/status').then(setStatus, () => {});
    void api('GET', '/alarms').then((r) => setAlarms(r.active), () => {});
    void api('GET', '/services').then((r) => setServices(r.services), () => {});
  }, [tick]);
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      // Empty optional fields take the seed's defaults (path /<domain>/<name>, database and user <domain>_<name>, a random password).
      const optional = Object.fromEntries((['password', 'path', 'dbName', 'dbUser'] as const).filter((k) => form[k] !== '').map((k) => [k, form[k]]));
      const created = await api('POST', '/instances', { service: form.service || services[0]?.name, name: form.name, domain: form.domain, ...optional });
      refresh();
      location.hash = `#/instance/${encodeURIComponent(created.id)}`;
    } catch (err) {
      setError(err);
    }
  };
  const field = (key: keyof typeof form, label: string, type = 'text') => (
    <label>
      {label}
      <input type={type} name={key} value={form[key]} onInput={(e) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value })} />
    </label>
  );
  return (
    <section>
      <h1>App Platform</h1>
      {status && (
        <p>
          Version {status.version} (build {status.label}), board {status.board}, up {status.uptimeSeconds} s
        </p>
      )}
      <h2>Alarms</h2>
      {alarms.length === 0 ? <p>No active alarms.</p> : (
        <ul class="alarms">
          {alarms.map((a) => (
            <li key={a.id} class={a.severity}>
              <strong>{a.severity}</strong> {a.source} {a.code}: {a.text}
            </li>
          ))}
        </ul>
      )}
      <InstallForm refresh={refresh} />
      <h2>New instance</h2>
      <form class="card" onSubmit={create}>
        <label>
          Service
          <select name="service" value={form.service} onChange={(e) => setForm({ ...form, service: (e.target as HTMLSelectElement).value })}>
            {services.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        {field('name', 'Name')}
        {field('domain', 'Domain')}
        {field('password', 'Instance password (empty: random)', 'password')}
        <details>
          <summary>More options</summary>
          {field('path', 'Webserver path (empty: /<domain>/<name>)')}
          {field('dbName', 'Database name (empty: <domain>_<name>)')}
          {field('dbUser', 'Database user (empty: <domain>_<name>)')}
        </details>
        {/* Until the services are known there is nothing to create an instance of. */}
        <button type="submit" disabled={services.length === 0}>
          Create
        </button>
        {services.length === 0 && <p class="note">No app service is installed yet: install one from the App Store first.</p>}
        <ErrorText error={error} />
      </form>
      <RestoreForm instance={null} refresh={refresh} />
    </section>
  );
}

function StorePage({ refresh }: { refresh: () => void }) {
  const [data, setData] = useState<any>(null);
  const [error, setError] = useState<unknown>(null);
  const load = () =>
    api('GET', '/store/apps').then(
      (r) => {
        setData(r);
        setError(null);
      },
      setError,
    );
  useEffect(() => void load(), []);
  return (
    <section>
      <h1>App Store</h1>
      {error ? (
        <>
          <ErrorText error={error} />
          <p>
            The App Store URL is set in <a href="#/settings">Settings → General</a>.
          </p>
        </>
      ) : null}
      {data && (
        <>
          <p class="note">
            {data.store} · packages for {data.arch} · only packages signed with a key this box trusts are installed
          </p>
          {data.apps.length === 0 && <p>The store offers no apps.</p>}
          <ul class="apps">
            {data.apps.map((app: any) => (
              <StoreApp key={app.id} app={app} onInstalled={() => void load().then(refresh)} />
            ))}
          </ul>
          {data.skipped.length > 0 && <p class="note">Left out (unusable entries in the store's index): {data.skipped.join(', ')}</p>}
        </>
      )}
    </section>
  );
}

function StoreApp({ app, onInstalled }: { app: any; onInstalled: () => void }) {
  const [build, setBuild] = useState(app.versions[0].build);
  const [state, setState] = useState<{ share: number; text: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const newest = app.versions[0];
  const action = !app.installed ? 'Install' : app.installed.label === build ? 'Reinstall' : build === newest.build ? 'Update' : 'Install this version';
  const install = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const job = await api('POST', `/store/apps/${encodeURIComponent(app.id)}/install`, { build });
      const done = await follow(job.id, (j) => setState({ share: j.state !== 'running' ? 1 : j.progress.total ? j.progress.done / j.progress.total : 0, text: j.progress.note || j.message }));
      if (done.state !== 'succeeded') throw new ApiError(0, 'INSTALL_FAILED', done.message);
      setState({ share: 1, text: done.message });
      onInstalled();
    } catch (err) {
      setState(null);
      setError(err);
    }
  };
  const labelId = `app-${app.id}`;
  return (
    <li class="card">
      <h2 id={labelId}>{app.title}</h2>
      <p class="note">
        {app.id}
        {app.manufacturer ? ` · ${app.manufacturer}` : ''} · {app.installed ? `installed: ${app.installed.version} (${app.installed.label})` : 'not installed'}
      </p>
      {app.description && <p>{app.description}</p>}
      <form onSubmit={install} aria-labelledby={labelId}>
        <label>
          Version
          <select name="build" value={build} onChange={(e) => setBuild((e.target as HTMLSelectElement).value)}>
            {app.versions.map((v: any) => (
              <option key={v.build} value={v.build}>
                {v.label}
                {v.build === newest.build ? ' (newest)' : ''}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">{action}</button>
        {state && <Progress share={state.share} label={`install ${app.id}`} />}
        {state && <p class="note">{state.text}</p>}
        <ErrorText error={error} />
      </form>
    </li>
  );
}

function InstallForm({ refresh }: { refresh: () => void }) {
  const [state, setState] = useState<{ share: number; text: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const file = ((e.target as HTMLFormElement).elements.namedItem('package') as HTMLInputElement).files?.[0];
    if (!file) return;
    setError(null);
    try {
      const job = await upload('/services/upload', file, (share) => setState({ share: share * 0.8, text: 'uploading' }));
      const done = await follow(job.id, (j) => setState({ share: j.state === 'running' ? 0.9 : 1, text: j.progress.note || j.message }));
      if (done.state !== 'succeeded') throw new ApiError(0, 'INSTALL_FAILED', done.message);
      setState({ share: 1, text: done.message });
      refresh();
    } catch (err) {
      setState(null);
      setError(err);
    }
  };
  return (
    <details>
      <summary>Install an app from a file (Developer mode)</summary>
      <form class="card" onSubmit={submit}>
        <label>
          Package (.tar.gz of the app's folder)
          <input type="file" name="package" accept=".tar.gz,.tgz,application/gzip" />
        </label>
        <button type="submit">Install</button>
        {state && <Progress share={state.share} label="install" />}
        {state && <p class="note">{state.text}</p>}
        <ErrorText error={error} />
      </form>
    </details>
  );
}

function Progress({ share, label }: { share: number; label: string }) {
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(share * 100)}>
      <div style={{ width: `${Math.round(share * 100)}%` }} />
      <span>{Math.round(share * 100)} %</span>
    </div>
  );
}

function InstancePage({ id, refresh, tick }: { id: string; refresh: () => void; tick: number }) {
  const [instance, setInstance] = useState<any>(null);
  const [error, setError] = useState<unknown>(null);
  const [showPassword, setShowPassword] = useState(false);
  const load = () => api('GET', `/instances/${encodeURIComponent(id)}`).then(setInstance, setError);
  useEffect(() => void load(), [id, tick]);
  const act = (fn: () => Promise<unknown>) => async () => {
    setError(null);
    try {
      await fn();
      await load();
      refresh();
    } catch (err) {
      setError(err);
    }
  };
  if (!instance) return <ErrorText error={error} />;
  return (
    <section>
      <h1>{instance.id}</h1>
      <dl class="fields">
        <dt>Service</dt>
        <dd>{instance.service}</dd>
        <dt>State</dt>
        <dd class={`state ${instance.state}`}>{instance.state}</dd>
        <dt>Webserver path</dt>
        <dd>{instance.path}</dd>
        <dt>Password</dt>
        <dd>
          <code>{showPassword ? instance.password : '••••••••'}</code>{' '}
          <button type="button" onClick={() => setShowPassword(!showPassword)}>
            {showPassword ? 'Hide' : 'Show'}
          </button>{' '}
          <DangerButton
            question={{
              title: `New password for ${id}?`,
              consequence: <p>A new random instance password replaces the current one at once. PBXes and clients that log in with the old one are refused until they are given the new one.</p>,
              confirm: 'Set a new password',
            }}
            act={act(() => api('POST', `/instances/${encodeURIComponent(id)}/password`, {}))}
          >
            New password
          </DangerButton>{' '}
          <DangerButton
            question={{
              title: `New database password for ${id}?`,
              consequence: <p>The database user {instance.database.user} gets a new random password at once, and the instance's app service is given it. Anything else that logs in to this database with the old password (scripts, reporting tools) is refused from then on.</p>,
              confirm: 'Set a new database password',
            }}
            act={act(() => api('POST', `/instances/${encodeURIComponent(id)}/db-password`, {}))}
          >
            New database password
          </DangerButton>
        </dd>
        <dt>Database</dt>
        <dd>
          {instance.database.name} (user {instance.database.user}
          {instance.database.sizeBytes ? `, ${(instance.database.sizeBytes / 1048576).toFixed(1)} MB` : ''})
        </dd>
        <dt>External database</dt>
        <dd>{instance.external ? `${instance.external.name} on ${instance.external.host} (user ${instance.external.user})` : 'none: the local PostgreSQL'}</dd>
        <dt>Request body limit</dt>
        <dd>{instance.maxBodyBytes === null ? "the server's" : `${(instance.maxBodyBytes / 1048576).toFixed(instance.maxBodyBytes % 1048576 ? 2 : 0)} MB`}</dd>
        <dt>Trace flags</dt>
        <dd>{instance.traceFlagNames.join(', ') || 'none'}</dd>
        <dt>Backup</dt>
        <dd>{instance.excludeFromBackup ? 'excluded' : 'included'}</dd>
      </dl>
      <div class="buttons">
        <button type="button" onClick={act(() => api('POST', `/instances/${encodeURIComponent(id)}/start`, {}))}>
          Start
        </button>
        <button type="button" onClick={act(() => api('POST', `/instances/${encodeURIComponent(id)}/stop`, {}))}>
          Stop
        </button>
        <CleanupButton id={id} database={instance.external?.name ?? instance.database.name} />
        <BackupDownload id={id} estimate={instance.database.sizeBytes} />
      </div>
      <ErrorText error={error} />
      <InstanceEdit instance={instance} onSaved={() => void load().then(refresh)} />
      <RestoreForm instance={instance} refresh={refresh} />
      <InstanceDelete id={id} refresh={refresh} />
    </section>
  );
}

/**
 * Restore a backup file by upload: on an instance's page as a copy (another
 * name in its domain) or over that instance, and only that one, after the
 * person confirmed; on the home page (`instance` null) the backup's own
 * instance (as after a delete) or a copy, never over an existing one.
 */
function RestoreForm({ instance, refresh }: { instance: any | null; refresh: () => void }) {
  const [restore, setRestore] = useState<{ share: number; text: string } | null>(null);
  const [cloneName, setCloneName] = useState('');
  const [restoreError, setRestoreError] = useState<unknown>(null);
  const [ask, dialog] = useConfirm();
  const id: string | null = instance?.id ?? null;
  const onRestore = async (e: Event) => {
    e.preventDefault();
    const input = (e.target as HTMLFormElement).elements.namedItem('file') as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    setRestoreError(null);
    const backup = await backupOf(file);
    // Over this instance, and only this one, when the person says so: the box refuses a backup of another instance.
    if (id && !cloneName && !(await ask({ title: `Replace ${id} with the backup?`, consequence: <RestoreQuestion id={id} file={file} backup={backup} />, confirm: `Replace ${id}` }))) return;
    try {
      const domain = instance?.domain ?? backup?.instance?.domain;
      const query = cloneName ? `?name=${encodeURIComponent(cloneName)}${domain ? `&domain=${encodeURIComponent(domain)}` : ''}` : id ? `?replace=${encodeURIComponent(id)}` : '';
      setRestore({ share: 0, text: 'uploading' });
      const job = await upload(`/restores/instances/upload${query}`, file, (share) => setRestore({ share: share * 0.5, text: 'uploading' }));
      const done = await follow(job.id, (j) => setRestore({ share: j.state === 'running' ? 0.5 + 0.45 * (j.progress.total ? j.progress.done / j.progress.total : 0.5) : 1, text: j.progress.note || j.message }));
      setRestore({ share: done.state === 'succeeded' ? 1 : 0, text: done.message });
      if (done.state !== 'succeeded') setRestoreError(new ApiError(0, 'RESTORE_FAILED', done.message));
      refresh();
    } catch (err) {
      setRestore(null);
      setRestoreError(err);
    }
  };
  return (
    <>
      <form class="card" onSubmit={onRestore}>
        <h2>{id ? 'Restore' : 'Restore an instance'}</h2>
        <label>
          Backup file
          <input type="file" name="file" accept=".apbk,application/octet-stream" />
        </label>
        <label>
          {id ? 'As a copy named (empty: replace this instance)' : "As a copy named (empty: the backup's own instance, which must not exist)"}
          <input type="text" name="clone" value={cloneName} onInput={(e) => setCloneName((e.target as HTMLInputElement).value)} />
        </label>
        {cloneName || !id ? (
          <button type="submit">{cloneName ? 'Restore as a copy' : 'Restore'}</button>
        ) : (
          <button type="submit" class="danger">
            Restore over this instance
          </button>
        )}
        {restore && <Progress share={restore.share} label="restore" />}
        {restore && <p class="note">{restore.text}</p>}
        <ErrorText error={restoreError} />
      </form>
      {/* Outside the form: the dialog's own form must not submit this one. */}
      {dialog}
    </>
  );
}

/**
 * The backup download: the browser saves it (no copy in the page's memory);
 * the bar follows the bytes the box has sent, told on the event socket.
 * The database size is only an estimate of the file (pg_dump compresses), so
 * the bar stops short until the box says the file is complete.
 */
function BackupDownload({ id, estimate }: { id: string; estimate: number | null }) {
  const [transfer, setTransfer] = useState<{ token: string; bytes: number; done: boolean; ok: boolean } | null>(null);
  useEffect(
    () =>
      subscribe((e) => {
        if (e.type === 'transfer') setTransfer((t) => (t && t.token === e.transfer ? { token: t.token, bytes: e.bytes, done: e.done, ok: e.ok } : t));
      }),
    [],
  );
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
          <span class="note">{transfer.done ? (transfer.ok ? `backup downloaded: ${MB(transfer.bytes)}` : `the download was cut off after ${MB(transfer.bytes)}`) : `${MB(transfer.bytes)} sent…`}</span>
        </div>
      )}
    </>
  );
}

const TRACE_FLAGS = ['App', 'Database', 'DB files', 'DNS', 'Ethernet', 'File', 'Files', 'HTTP client', 'HTTP file', 'Process', 'TLS', 'TCP', 'LDS', 'Webserver traffic', 'WebSocket client', 'App WebSocket', 'WebDAV service', 'Command', 'Config', 'Time', 'SMTP', 'UDP', 'DTLS', 'Media', 'Media channel', 'ICE', 'TURN', 'AppSharing', 'Audio', 'Video', 'Browser', 'AppProxy', 'Alarm client', 'Webserver'];

function InstanceEdit({ instance, onSaved }: { instance: any; onSaved: () => void }) {
  const [path, setPath] = useState(instance.path);
  const [password, setPassword] = useState('');
  const [limit, setLimit] = useState(instance.maxBodyBytes === null ? '' : String(instance.maxBodyBytes / 1048576));
  const [flags, setFlags] = useState<string[]>(instance.traceFlagNames);
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
          {TRACE_FLAGS.map((f) => (
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

function InstanceDelete({ id, refresh }: { id: string; refresh: () => void }) {
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
      location.hash = '#/';
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

function ServicePage({ name, refresh, tick }: { name: string; refresh: () => void; tick: number }) {
  const [service, setService] = useState<any>(null);
  const [crashes, setCrashes] = useState<any[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const base = `/services/${encodeURIComponent(name)}`;
  const load = async () => {
    try {
      setService(await api('GET', base));
      setCrashes((await api('GET', `${base}/crashes`)).crashes);
    } catch (err) {
      setError(err);
    }
  };
  useEffect(() => {
    setService(null);
    setError(null);
  }, [name]);
  useEffect(() => void load(), [name, tick]);
  const act = (what: string) => async () => {
    setError(null);
    setBusy(true);
    try {
      await api('POST', `${base}/${what}`, {});
      await load();
      refresh();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (!service) return <ErrorText error={error} />;
  const last = crashes[0];
  return (
    <section>
      <h1>{service.name}</h1>
      <dl class="fields">
        <dt>Version</dt>
        <dd>
          {service.version} ({service.label})
        </dd>
        <dt>State</dt>
        <dd class={`state ${service.state}`}>
          {service.state}
          {service.pid ? ` (pid ${service.pid})` : ''}
        </dd>
        <dt>Restarts</dt>
        <dd>
          {service.restarts} since it last ran stably ({service.deaths} deaths in the restart window)
        </dd>
        <dt>Open requests and WebSockets</dt>
        <dd>{service.streams}</dd>
        {service.reason && (
          <>
            <dt>Failure</dt>
            <dd>{service.reason}</dd>
          </>
        )}
      </dl>
      <div class="buttons">
        <button type="button" disabled={busy} onClick={act('start')}>
          Start
        </button>
        <button type="button" disabled={busy} onClick={act('stop')}>
          Stop
        </button>
        <DangerButton
          disabled={busy}
          question={{ title: `Restart ${service.name}?`, consequence: <p>The service's process is stopped and started again: every instance of it is unavailable meanwhile, and its open requests and WebSocket connections are cut.</p>, confirm: `Restart ${service.name}` }}
          act={act('restart')}
        >
          Restart
        </DangerButton>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <ErrorText error={error} />
      <h2>Last crash</h2>
      {last ? (
        <div class="card">
          <p>
            {last.time}: {last.signal ? `signal ${last.signal}` : `exit code ${last.exitCode}`} after {(last.uptimeMs / 1000).toFixed(1)} s (version {last.version}){last.cutOff ? `; cut off: ${last.cutOff}` : ''}. {crashes.length} crash
            records kept.
          </p>
          <pre class="log" tabIndex={0} aria-label="The last lines before the crash">
            {last.lastLines.join('\n') || '(no output)'}
          </pre>
        </div>
      ) : (
        <p>No crash recorded.</p>
      )}
      <LogView base={base} name={name} />
    </section>
  );
}

/** The end of a service's log, refreshed by hand or every few seconds while "follow" is on. */
function LogView({ base, name }: { base: string; name: string }) {
  const [log, setLog] = useState<{ text: string; size: number; truncated: boolean } | null>(null);
  const [follow, setFollow] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const box = useRef<HTMLPreElement>(null);
  const load = () =>
    api('GET', `${base}/log/tail`).then(
      (r) => {
        setLog(r);
        setError(null);
      },
      setError,
    );
  useEffect(() => void load(), [base]);
  useEffect(() => {
    if (!follow) return;
    const timer = setInterval(() => void load(), 3000);
    return () => clearInterval(timer);
  }, [follow, base]);
  // Keep the newest lines in view, as tail -f does.
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [log?.text]);
  return (
    <>
      <h2>Log</h2>
      <p class="buttons">
        <button type="button" onClick={() => void load()}>
          Reload log
        </button>
        <label class="inline">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow
        </label>
        <a class="button" href={`/manager/api${base}/log`} download={`${name}.log`}>
          Download log
        </a>
      </p>
      <ErrorText error={error} />
      {log && (
        <>
          {log.truncated && <p class="note">The last {Math.round(log.text.length / 1024)} KB of {Math.round(log.size / 1024)} KB; download the log for all of it.</p>}
          <pre class="log" ref={box} tabIndex={0} aria-label={`Log of ${name}`}>
            {log.size === 0 ? '(no log yet)' : log.text}
          </pre>
        </>
      )}
    </>
  );
}

const SECTIONS: [string, string[]][] = [
  ['General', ['developerMode', 'disableAppSecurity', 'appStoreUrl', 'devicesAppUrl', 'devicesAppUrl2', 'dnsName', 'ntpServer1', 'ntpServer2', 'timezone', 'dnsServer1', 'dnsServer2', 'dbOptimizationHour', 'commandFile']],
  ["Let's Encrypt", ['letsEncryptEnabled', 'letsEncryptUrl', 'letsEncryptPassword', 'letsEncryptKeyLength', 'letsEncryptDnsNames']],
  ['Alarms and events', ['eventsUrl', 'eventsUser', 'eventsPassword', 'alarmEmail', 'diskThreshold']],
  ['SMTP', ['smtpServer', 'smtpPort', 'smtpSecurity', 'smtpUser', 'smtpPassword', 'smtpSender', 'smtpInsecureTls']],
  ['Replication', ['replicationMode', 'replicationPrimary', 'replicationPort', 'replicationPassword']],
  ['Registered Access Domains', ['accessDomains']],
];

/** Sections whose settings are kept and checked but not acted on by this version: said plainly. */
const NOT_YET: Record<string, string> = {
  "Let's Encrypt": 'Saved and checked; this version does not request certificates from Let\'s Encrypt yet (upload one under Security).',
  Replication: 'Saved and checked; this version does not replicate the databases yet.',
  'Registered Access Domains': 'Saved and checked; not used by this version yet.',
};

/** Settings of General that are kept and checked but not acted on by this version (the box's network, SSH, Devices). */
const NOT_APPLIED = new Set(['devicesAppUrl', 'devicesAppUrl2', 'dnsName', 'ntpServer1', 'ntpServer2', 'dnsServer1', 'dnsServer2']);

/** A form's submit that runs `fn` and keeps its outcome: saved, or the error to show. */
function useSubmit(fn: () => Promise<unknown>): [{ error?: unknown; saved?: boolean }, (e: Event) => Promise<void>] {
  const [state, setState] = useState<{ error?: unknown; saved?: boolean }>({});
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await fn();
      setState({ saved: true });
    } catch (err) {
      setState({ error: err });
    }
  };
  return [state, submit];
}

function Setting({ name, spec }: { name: string; spec: { label: string; value: string; choices?: string[] } }) {
  const [value, setValue] = useState(spec.value === '***' ? '' : spec.value);
  const secret = /password/i.test(name);
  const [state, save] = useSubmit(() => api('PUT', `/settings/${name}`, { value }));
  return (
    <form class="setting" onSubmit={save}>
      <label>
        {spec.label}
        {spec.choices ? (
          <select name={name} value={value} onChange={(e) => setValue((e.target as HTMLSelectElement).value)}>
            {spec.choices.map((c) => (
              <option key={c} value={c}>
                {c === 'true' ? 'on' : c === 'false' ? 'off' : c}
              </option>
            ))}
          </select>
        ) : name === 'commandFile' || name === 'letsEncryptDnsNames' || name === 'accessDomains' ? (
          <textarea name={name} rows={4} value={value} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
        ) : (
          <input name={name} type={secret ? 'password' : 'text'} placeholder={secret && spec.value ? '(set)' : ''} value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        )}
      </label>
      <button type="submit">Save</button>
      {state.saved && <span class="ok">saved</span>}
      {NOT_APPLIED.has(name) && <p class="note">Kept and checked; not applied by this version yet.</p>}
      <ErrorText error={state.error} />
    </form>
  );
}

function SettingsPage() {
  const [settings, setSettings] = useState<Record<string, { label: string; value: string; choices?: string[] }> | null>(null);
  const [pem, setPem] = useState('');
  const [cert, setCert] = useState<any>(null);
  const [certError, setCertError] = useState<unknown>(null);
  const [update, setUpdate] = useState<any>(null);
  useEffect(() => {
    void api('GET', '/settings').then((r) => setSettings(r.settings), () => {});
    void api('GET', '/certificate').then(setCert, () => {});
    void api('GET', '/update').then(setUpdate, () => {});
  }, []);
  const uploadCert = async (e: Event) => {
    e.preventDefault();
    setCertError(null);
    try {
      setCert(await api('PUT', '/certificate', { pem }));
    } catch (err) {
      setCertError(err);
    }
  };
  if (!settings) return null;
  return (
    <section>
      <h1>Settings</h1>
      {SECTIONS.map(([title, names]) => (
        <fieldset key={title}>
          <legend>{title}</legend>
          {NOT_YET[title] && <p class="note">{NOT_YET[title]}</p>}
          {names.filter((n) => settings[n]).map((n) => <Setting key={n} name={n} spec={settings[n]!} />)}
        </fieldset>
      ))}
      <fieldset>
        <legend>Security</legend>
        {cert && (
          <p>
            Current webserver certificate: {cert.subject} ({cert.custom ? 'uploaded' : 'self-signed'}), valid until {cert.validTo} ·{' '}
            <a href="/manager/api/certificate/download" download>
              download
            </a>
          </p>
        )}
        <form onSubmit={uploadCert}>
          <label>
            Webserver certificate (PEM: certificate, intermediates, unencrypted key)
            <textarea name="pem" rows={6} value={pem} onInput={(e) => setPem((e.target as HTMLTextAreaElement).value)} />
          </label>
          <button type="submit">Upload certificate</button>
          <ErrorText error={certError} />
        </form>
        <p>
          <a href="#/password">Change the Manager password</a>
        </p>
        <LinuxPassword user="root" />
        <LinuxPassword user="admin" />
      </fieldset>
      <SystemActions update={update} />
    </section>
  );
}

/** The seed's "Linux root user" and "Linux admin user" passwords: handed to the box, never stored by the Manager. */
function LinuxPassword({ user }: { user: string }) {
  const [value, setValue] = useState('');
  const [state, save] = useSubmit(async () => {
    await api('PUT', `/system/linux-users/${user}/password`, { password: value });
    setValue('');
  });
  return (
    <form class="setting" onSubmit={save}>
      <label>
        Linux {user} user password
        <input type="password" name={`linux-${user}`} autocomplete="new-password" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Set</button>
      {state.saved && <span class="ok">set</span>}
      <ErrorText error={state.error} />
    </form>
  );
}

function SystemActions({ update }: { update: any }) {
  const [message, setMessage] = useState<string>('');
  const [error, setError] = useState<unknown>(null);
  const [ask, dialog] = useConfirm();
  const run = (fn: () => Promise<string>, question?: Question) => async () => {
    if (question && !(await ask(question))) return;
    setError(null);
    setMessage('…');
    try {
      setMessage(await fn());
    } catch (err) {
      setMessage('');
      setError(err);
    }
  };
  return (
    <>
      <fieldset>
        <legend>Mail</legend>
        <button type="button" onClick={run(async () => (await api('POST', '/mail/test', {})).reply)}>
          Send test mail
        </button>
      </fieldset>
      <fieldset>
        <legend>Update</legend>
        {update && (
          <p>
            Running image {update.running ?? 'unknown'}; available: {update.available ?? 'none'}
          </p>
        )}
        <button type="button" onClick={run(async () => (await follow((await api('POST', '/update', {})).id, (j) => setMessage(j.progress.note || j.message))).message, { title: 'Update the App Platform now?', consequence: <p>The new image is downloaded and staged, then the box reboots to apply it: every app is unavailable until it is back.</p>, confirm: 'Update and reboot' })} class="danger">
          Update now
        </button>
      </fieldset>
      <fieldset>
        <legend>Restart and shutdown</legend>
        <button type="button" onClick={run(async () => ((await api('POST', '/system/restart', { confirm: true })).restarting ? 'restarting…' : 'this board does not restart itself'), { title: 'Restart the App Platform?', consequence: <p>The box reboots: every app and every connection (PBXes, clients, this page) is cut until it is back, usually within a few minutes.</p>, confirm: 'Restart the App Platform' })} class="danger">
          Restart
        </button>
        <button type="button" onClick={run(async () => ((await api('POST', '/system/shutdown', { confirm: true })).shuttingDown ? 'shutting down…' : 'this board does not shut itself down'), { title: 'Shut the App Platform down?', consequence: <p>The box switches off: every app stays unavailable until someone powers it on again, on site or through its hypervisor.</p>, confirm: 'Shut down' })} class="danger">
          Shutdown
        </button>
      </fieldset>
      {dialog}
      {message && <p class="note">{message}</p>}
      <ErrorText error={error} />
    </>
  );
}

const CHARTS: [string, string, Record<string, string>, (v: number) => string][] = [
  ['CPU', 'ap_cpu_percent', {}, (v) => `${v.toFixed(0)} %`],
  ['Supervisor memory', 'ap_memory_bytes', { what: 'supervisor' }, (v) => `${(v / 1048576).toFixed(1)} MB`],
  ['Data partition (p2) used', 'ap_disk_used_bytes', { partition: 'p2' }, (v) => `${(v / 1048576).toFixed(0)} MB`],
  ['WebSockets', 'ap_websockets_open', {}, (v) => String(v)],
];

function Chart({ title, name, labels, format }: { title: string; name: string; labels: Record<string, string>; format: (v: number) => string }) {
  const box = useRef<HTMLDivElement>(null);
  const [last, setLast] = useState<string>('…');
  useEffect(() => {
    let plot: uPlot | null = null;
    let stopped = false;
    const draw = async () => {
      const query = new URLSearchParams({ range: 'hour', ...labels }).toString();
      const r = await api('GET', `/metrics/${name}?${query}`).catch(() => null);
      if (!r || stopped || !box.current) return;
      const xs = r.points.map((p: [number, number]) => p[0] / 1000);
      const ys = r.points.map((p: [number, number]) => p[1]);
      if (ys.length) setLast(format(ys[ys.length - 1]));
      const data: uPlot.AlignedData = [xs, ys];
      if (!plot) {
        plot = new uPlot({ width: Math.min(560, box.current.clientWidth || 320), height: 160, series: [{}, { label: title, stroke: '#2563eb', width: 2 }], axes: [{}, { size: 72, values: (_u, v) => v.map((x) => format(x)) }], legend: { show: false } }, data, box.current);
      } else plot.setData(data);
    };
    void draw();
    const timer = setInterval(() => void draw(), 5000);
    return () => {
      stopped = true;
      clearInterval(timer);
      plot?.destroy();
    };
  }, [name]);
  return (
    <figure class="chart" data-metric={name}>
      <figcaption>
        {title}: <strong>{last}</strong>
      </figcaption>
      <div ref={box} />
    </figure>
  );
}

const MB = (v: number) => `${(v / 1048576).toFixed(v < 10 * 1048576 ? 1 : 0)} MB`;

/** The series to chart: the fixed ones, then one per partition, instance database and instance WebSockets, as the box has them. */
function chartList(series: { name: string; labels: Record<string, string> }[]): [string, string, Record<string, string>, (v: number) => string][] {
  const out = [...CHARTS];
  for (const s of series) {
    if (s.name === 'ap_disk_used_bytes' && s.labels.partition !== 'p2') out.push([`Partition ${s.labels.partition} used`, s.name, s.labels, MB]);
    if (s.name === 'ap_instance_database_bytes') out.push([`Database of ${s.labels.instance}`, s.name, s.labels, MB]);
    if (s.name === 'ap_instance_websockets_open') out.push([`WebSockets of ${s.labels.instance}`, s.name, s.labels, String]);
    if (s.name === 'ap_service_cpu_percent') out.push([`CPU of ${s.labels.service}`, s.name, s.labels, (v) => `${v.toFixed(0)} %`]);
  }
  return out;
}

function SystemPage() {
  const [series, setSeries] = useState<{ name: string; labels: Record<string, string> }[]>([]);
  useEffect(() => void api('GET', '/metrics').then((r) => setSeries(r.series), () => {}), []);
  return (
    <section>
      <h1>System</h1>
      <div class="charts">
        {chartList(series).map(([title, name, labels, format]) => (
          <Chart key={name + JSON.stringify(labels)} title={title} name={name} labels={labels} format={format} />
        ))}
      </div>
      <p>
        <a href="/manager/ramdisk.log">Rescue system log</a> · <a href="/manager/boot">Boot settings</a> · <a href="/manager/metrics">Prometheus metrics</a> · <a href="#/diagnostics">Diagnostics</a>
      </p>
    </section>
  );
}

function DiagnosticsPage() {
  const [data, setData] = useState<any>(null);
  useEffect(() => void api('GET', '/diagnostics').then(setData, () => {}), []);
  if (!data) return null;
  return (
    <section>
      <h1>Diagnostics</h1>
      <p>
        App Platform {data.status.version} (build {data.status.label}) on {data.status.board}, Node.js {data.node}, {data.sessions} Manager sessions, memory{' '}
        {(data.status.memory.rss / 1048576).toFixed(1)} MB
      </p>
      <h2>Recent jobs</h2>
      <ul>
        {data.jobs.map((j: any) => (
          <li key={j.id}>
            {j.startedAt} {j.kind} {j.target}: {j.state} — {j.message}
          </li>
        ))}
      </ul>
      <h2>Alarms</h2>
      <ul>
        {[...data.alarms.active, ...data.alarms.cleared].map((a: any) => (
          <li key={`${a.id}-${a.clearedAt}`}>
            {a.raisedAt} {a.severity} {a.source} {a.code}: {a.text} {a.clearedAt ? `(cleared ${a.clearedAt})` : '(active)'}
          </li>
        ))}
      </ul>
      <p>
        <a href="/manager/api/openapi.json">API description (OpenAPI)</a>
      </p>
    </section>
  );
}

function App() {
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const route = useRoute();
  useEffect(() => {
    api('GET', '/session').then(
      (s) => {
        setCsrf(s.csrf);
        setSession(s);
      },
      () => setSession(null),
    );
  }, []);
  const refresh = () => setTick((t) => t + 1);
  useEffect(
    () =>
      subscribe((event) => {
        if (event.type !== 'ended') return;
        disconnectEvents();
        setSession(null);
      }),
    [],
  );
  const ready = !!session && !session.mustChangePassword;
  // Pushed changes refresh what is shown (a burst of them once).
  useEffect(() => {
    if (!ready) return;
    connectEvents();
    let timer: ReturnType<typeof setTimeout> | null = null;
    const stop = subscribe((event) => {
      if (event.type === 'hello' || (event.type === 'job' && event.job.state === 'running')) return;
      if (!timer) timer = setTimeout(() => ((timer = null), refresh()), 300);
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [ready]);
  if (session === undefined) return null;
  if (session === null) return <Login onLogin={setSession} />;
  if (session.mustChangePassword) return <ChangePassword forced onDone={() => setSession({ ...session, mustChangePassword: false })} />;
  const logout = async () => {
    disconnectEvents();
    await api('DELETE', '/session').catch(() => {});
    setSession(null);
    location.hash = '#/';
  };
  let page;
  if (route.startsWith('/instance/')) page = <InstancePage id={decodeURIComponent(route.slice(10))} refresh={refresh} tick={tick} />;
  else if (route.startsWith('/service/')) page = <ServicePage name={decodeURIComponent(route.slice(9))} refresh={refresh} tick={tick} />;
  else if (route === '/settings') page = <SettingsPage />;
  else if (route === '/store') page = <StorePage refresh={refresh} />;
  else if (route === '/system') page = <SystemPage />;
  else if (route === '/diagnostics') page = <DiagnosticsPage />;
  else if (route === '/password') page = <ChangePassword forced={false} onDone={() => (location.hash = '#/settings')} />;
  else page = <Home refresh={refresh} tick={tick} />;
  return (
    <div class="layout">
      <header>
        <strong>App Platform Manager</strong>
        <nav aria-label="Pages">
          <a href="#/">Home</a> <a href="#/store">App Store</a> <a href="#/settings">Settings</a> <a href="#/system">System</a>{' '}
          <button type="button" onClick={logout}>
            Log out
          </button>
        </nav>
      </header>
      <Tree tick={tick} />
      <main>{page}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
