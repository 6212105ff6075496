// The App Store: the apps a trusted store offers, each installed, updated or
// put back to another version with its progress.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { ErrorText } from '../components/errors';
import { ForceBox } from '../components/force';
import { JobBar } from '../components/progress';
import { useFetch, useRefresh } from '../hooks/fetch';
import { useJob } from '../hooks/jobs';
import type { StoreApp, StoreIndex } from '../types';

export function StorePage() {
  const refresh = useRefresh();
  const { data, error, reload } = useFetch<StoreIndex>('/store/apps');
  return (
    <section>
      <h1>App Store</h1>
      {error ? (
        <>
          <ErrorText error={error} />
          <p>
            The App Store URL is set in <a href="#/settings/general">Settings → General</a>.
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
            {data.apps.map((app) => (
              <StoreAppCard key={app.id} app={app} onInstalled={() => void reload().then(refresh)} />
            ))}
          </ul>
          {data.skipped.length > 0 && <p class="note">Left out (unusable entries in the store's index): {data.skipped.join(', ')}</p>}
        </>
      )}
    </section>
  );
}

function StoreAppCard({ app, onInstalled }: { app: StoreApp; onInstalled: () => void }) {
  const newest = app.versions[0]!;
  const [build, setBuild] = useState(newest.build);
  const job = useJob();
  const action = !app.installed ? 'Install' : app.installed.label === build ? 'Reinstall' : build === newest.build ? 'Update' : 'Install this version';
  const install = async (e: Event) => {
    e.preventDefault();
    const force = ((e.target as HTMLFormElement).elements.namedItem('force') as HTMLInputElement).checked;
    if (await job.run(() => api<{ id: string }>('POST', `/store/apps/${encodeURIComponent(app.id)}/install`, { build, ...(force ? { force: true } : {}) }), { failure: 'INSTALL_FAILED' })) onInstalled();
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
            {app.versions.map((v) => (
              <option key={v.build} value={v.build}>
                {v.label}
                {v.build === newest.build ? ' (newest)' : ''}
              </option>
            ))}
          </select>
        </label>
        <ForceBox label="Install even though memory is short" />
        <button type="submit">{action}</button>
        <JobBar progress={job.progress} label={`install ${app.id}`} />
        <ErrorText error={job.error} />
      </form>
    </li>
  );
}
