// Adding to the box, off the dashboard's first screen: a new instance, an
// instance restored from a backup, and an app installed from a file (only
// while Developer mode is on; otherwise where to turn it on).
import { useState } from 'preact/hooks';
import { api, upload } from '../api';
import { ErrorText } from '../components/errors';
import { JobBar } from '../components/progress';
import { RestoreForm } from '../components/restore';
import { useFetch, useRefresh } from '../hooks/fetch';
import { ForceBox } from '../components/force';
import { useJob } from '../hooks/jobs';
import { go, href } from '../router';
import type { ServiceSummary, SettingSpec } from '../types';

export function NewPage() {
  const settings = useFetch<{ settings: Record<string, SettingSpec> }>('/settings', { live: true });
  const developer = settings.data?.settings.developerMode?.value;
  return (
    <section>
      <h1>New instance or app</h1>
      <p>
        <a href={href({ page: 'home' })}>Back to the overview</a> · Apps from the App Store: <a href={href({ page: 'store' })}>App Store</a>
      </p>
      <NewInstance />
      <RestoreForm instance={null} />
      <h2>Install an app from a file</h2>
      {developer === 'true' ? (
        <InstallForm />
      ) : developer === 'false' ? (
        <p class="note">
          Installing an app from a file needs Developer mode, which is off: turn on <em>Enable Developer mode</em> in <a href={href({ page: 'settings', section: 'general' })}>Settings, General</a> first.
        </p>
      ) : null}
      <ErrorText error={settings.error} />
    </section>
  );
}

function NewInstance() {
  const refresh = useRefresh();
  const servicesFetch = useFetch<{ services: ServiceSummary[] }>('/services', { live: true });
  const services = servicesFetch.data?.services ?? [];
  const [form, setForm] = useState({ service: '', name: '', domain: '', password: '', path: '', dbName: '', dbUser: '' });
  const [force, setForce] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // Until one is chosen, the first installed service is the one shown selected and the one used.
  const service = form.service || services[0]?.name || '';
  const create = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      // Empty optional fields take the seed's defaults (path /<domain>/<name>, database and user <domain>_<name>, a random password).
      const optional = Object.fromEntries((['password', 'path', 'dbName', 'dbUser'] as const).filter((k) => form[k] !== '').map((k) => [k, form[k]]));
      const created = await api<{ id: string }>('POST', '/instances', { service, name: form.name, domain: form.domain, ...optional, ...(force ? { force: true } : {}) });
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
    <form class="card" onSubmit={create}>
      <h2>New instance</h2>
      <label>
        Service
        <select name="service" value={service} onChange={(e) => setForm({ ...form, service: (e.target as HTMLSelectElement).value })}>
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
      {services.length === 0 && !servicesFetch.error && (
        <p class="note">
          No app service is installed yet: install one from the <a href={href({ page: 'store' })}>App Store</a> first.
        </p>
      )}
      <ErrorText error={error ?? servicesFetch.error} />
    </form>
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
    <form class="card" onSubmit={submit} aria-label="Install an app from a file">
      <label>
        Package (.tar.gz of the app's folder)
        <input type="file" name="package" accept=".tar.gz,.tgz,application/gzip" />
      </label>
      <ForceBox label="Install even though memory is short" />
      <button type="submit">Install</button>
      <JobBar progress={job.progress} label="install" />
      <ErrorText error={job.error} />
    </form>
  );
}
