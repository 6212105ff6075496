// The home page: the box's version and alarms, an app installed from a file,
// a new instance, an instance restored from a backup.
import { useState } from 'preact/hooks';
import { api, upload } from '../api';
import { ErrorText } from '../components/errors';
import { JobBar } from '../components/progress';
import { RestoreForm } from '../components/restore';
import { useFetch, useRefresh } from '../hooks/fetch';
import { ForceBox } from '../components/force';
import { useJob } from '../hooks/jobs';
import { go } from '../router';
import type { Alarm, ServiceSummary, Status } from '../types';

export function Home() {
  const refresh = useRefresh();
  const status = useFetch<Status>('/status', { live: true });
  const alarms = useFetch<{ active: Alarm[] }>('/alarms', { live: true });
  const servicesFetch = useFetch<{ services: ServiceSummary[] }>('/services', { live: true });
  const services = servicesFetch.data?.services ?? [];
  const active = alarms.data?.active ?? [];
  const [form, setForm] = useState({ service: '', name: '', domain: '', password: '', path: '', dbName: '', dbUser: '' });
  const [force, setForce] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      // Empty optional fields take the seed's defaults (path /<domain>/<name>, database and user <domain>_<name>, a random password).
      const optional = Object.fromEntries((['password', 'path', 'dbName', 'dbUser'] as const).filter((k) => form[k] !== '').map((k) => [k, form[k]]));
      const created = await api<{ id: string }>('POST', '/instances', { service: form.service || services[0]?.name, name: form.name, domain: form.domain, ...optional, ...(force ? { force: true } : {}) });
      refresh();
      go({ page: 'instance', id: created.id });
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
      {status.data && (
        <p>
          Version {status.data.version} (build {status.data.label}), board {status.data.board}, up {status.data.uptimeSeconds} s
        </p>
      )}
      <ErrorText error={status.error} />
      <h2>Alarms</h2>
      {active.length === 0 ? (alarms.error ? null : <p>No active alarms.</p>) : (
        <ul class="alarms">
          {active.map((a) => (
            <li key={a.id} class={a.severity}>
              <strong>{a.severity}</strong> {a.source} {a.code}: {a.text}
            </li>
          ))}
        </ul>
      )}
      <ErrorText error={alarms.error} />
      <InstallForm />
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
          <ForceBox label="Create even though memory is short" checked={force} onChange={setForce} />
        </details>
        {/* Until the services are known there is nothing to create an instance of. */}
        <button type="submit" disabled={services.length === 0}>
          Create
        </button>
        {services.length === 0 && !servicesFetch.error && <p class="note">No app service is installed yet: install one from the App Store first.</p>}
        <ErrorText error={error ?? servicesFetch.error} />
      </form>
      <RestoreForm instance={null} />
    </section>
  );
}

function InstallForm() {
  const refresh = useRefresh();
  const job = useJob();
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const file = (form.elements.namedItem('package') as HTMLInputElement).files?.[0];
    if (!file) return;
    const force = (form.elements.namedItem('force') as HTMLInputElement).checked;
    if (await job.run((uploaded) => upload<{ id: string }>(`/services/upload${force ? '?force=true' : ''}`, file, uploaded), { failure: 'INSTALL_FAILED', upload: 0.8 })) refresh();
  };
  return (
    <details>
      <summary>Install an app from a file (Developer mode)</summary>
      <form class="card" onSubmit={submit}>
        <label>
          Package (.tar.gz of the app's folder)
          <input type="file" name="package" accept=".tar.gz,.tgz,application/gzip" />
        </label>
        <ForceBox label="Install even though memory is short" />
        <button type="submit">Install</button>
        <JobBar progress={job.progress} label="install" />
        <ErrorText error={job.error} />
      </form>
    </details>
  );
}
