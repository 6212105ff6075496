// An instance's page: its fields (its path a link to the app), start and
// stop, new passwords, clean-up, backup download, edit, restore and delete.
// What it shows is always the instance in the address: the answer for
// another is never shown under it.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { DangerButton } from '../confirm';
import { CleanupButton } from '../dangerous';
import { AppLink, useAppUrl } from '../components/app-link';
import { ErrorText, Missing } from '../components/errors';
import { State } from '../components/live';
import { RestoreForm } from '../components/restore';
import { bytes } from '../format';
import { useFetch, useRefresh } from '../hooks/fetch';
import { href } from '../router';
import type { BackupRecord, Instance } from '../types';
import { BackupLine } from './home-cards';
import { BackupDownload, InstanceDelete, InstanceEdit } from './instance-forms';

export function InstancePage({ id }: { id: string }) {
  const refresh = useRefresh();
  const path = `/instances/${encodeURIComponent(id)}`;
  const { data: instance, error: loadError, reload } = useFetch<Instance>(path, { live: true });
  // The last backup and a failed attempt's reason: where the backup alarm's link leads.
  const backups = useFetch<{ records: BackupRecord[] }>('/backups/last', { live: true });
  const [error, setError] = useState<unknown>(null);
  const [showPassword, setShowPassword] = useState(false);
  const url = useAppUrl();
  const act = (fn: () => Promise<unknown>) => async () => {
    setError(null);
    try {
      await fn();
      await reload();
      refresh();
    } catch (err) {
      setError(err);
    }
  };
  if (!instance) return <Missing title={id} error={loadError} />;
  return (
    <section>
      <h1>{instance.id}</h1>
      <dl class="fields">
        <dt>Service</dt>
        <dd>
          <a href={href({ page: 'service', name: instance.service })}>{instance.service}</a>
        </dd>
        <dt>State</dt>
        <dd>
          <State state={instance.state} />
        </dd>
        <dt>Webserver path</dt>
        <dd>
          <AppLink path={instance.path} url={url(instance.path)} />
        </dd>
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
            act={act(() => api('POST', `${path}/password`, {}))}
          >
            New password
          </DangerButton>{' '}
          <DangerButton
            question={{
              title: `New database password for ${id}?`,
              consequence: <p>The database user {instance.database.user} gets a new random password at once, and the instance's app service is given it. Anything else that logs in to this database with the old password (scripts, reporting tools) is refused from then on.</p>,
              confirm: 'Set a new database password',
            }}
            act={act(() => api('POST', `${path}/db-password`, {}))}
          >
            New database password
          </DangerButton>
        </dd>
        <dt>Database</dt>
        <dd>
          {instance.database.name} (user {instance.database.user}
          {instance.database.sizeBytes ? `, ${bytes(instance.database.sizeBytes)}` : ''})
        </dd>
        <dt>External database</dt>
        <dd>{instance.external ? `${instance.external.name} on ${instance.external.host} (user ${instance.external.user})` : 'none: the local PostgreSQL'}</dd>
        <dt>Request body limit</dt>
        <dd>{instance.maxBodyBytes === null ? "the server's" : bytes(instance.maxBodyBytes)}</dd>
        <dt>Trace flags</dt>
        <dd>{instance.traceFlagNames.join(', ') || 'none'}</dd>
        <dt>Backup</dt>
        <dd>
          {instance.excludeFromBackup ? 'excluded' : 'included'}
          {!instance.excludeFromBackup && backups.data && <BackupLine instance={instance} record={backups.data.records.find((b) => b.instance === instance.id)} />}
        </dd>
      </dl>
      <div class="buttons">
        <button type="button" onClick={act(() => api('POST', `${path}/start`, {}))}>
          Start
        </button>
        <button type="button" onClick={act(() => api('POST', `${path}/stop`, {}))}>
          Stop
        </button>
        <CleanupButton id={id} database={instance.external?.name ?? instance.database.name} />
        <BackupDownload id={id} estimate={instance.database.sizeBytes ?? null} />
      </div>
      <ErrorText error={error ?? loadError} />
      <InstanceEdit instance={instance} onSaved={() => void reload().then(refresh)} />
      <RestoreForm instance={instance} />
      <InstanceDelete id={id} />
    </section>
  );
}
