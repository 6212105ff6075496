// The service page's uninstall: what goes with the service is chosen with
// checkboxes (its instances, their databases, its logs), the dialog says what
// will be removed before anything is, and the job is followed to its end.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { useConfirm } from '../confirm';
import { useJob } from '../hooks/jobs';
import { ErrorText } from './errors';
import { JobBar } from './progress';

/** `done` hears the job's final message once the service is gone. */
export function ServiceUninstall({ name, done }: { name: string; done: (message: string) => void }) {
  const [instances, setInstances] = useState(false);
  const [drop, setDrop] = useState(false);
  const [keepLogs, setKeepLogs] = useState(false);
  const [ask, dialog] = useConfirm();
  const job = useJob();
  const running = job.progress?.state === 'running';
  const uninstall = async (e: Event) => {
    e.preventDefault();
    const withDrop = instances && drop;
    const consequence = (
      <>
        <p>
          {name} is stopped (its requests and WebSocket connections are cut) and removed: its package, its data folder, its Linux account and its cgroup
          {keepLogs ? '. Its logs are kept.' : ', and its logs.'}
        </p>
        <p>
          {instances
            ? withDrop
              ? 'Its instances are deleted, and their databases and database users are dropped with all their data.'
              : 'Its instances are deleted; their databases and database users are kept.'
            : 'A service with instances is not uninstalled: delete them first, or choose to delete them too.'}
        </p>
        <p>This cannot be undone{withDrop ? ': download backups first if you may need them' : ''}.</p>
      </>
    );
    if (!(await ask({ title: `Uninstall ${name}?`, consequence, confirm: withDrop ? `Uninstall ${name} and drop databases` : `Uninstall ${name}` }))) return;
    const query = new URLSearchParams({ ...(instances ? { instances: 'true' } : {}), ...(withDrop ? { dropDatabases: 'true' } : {}), ...(keepLogs ? { keepLogs: 'true' } : {}) }).toString();
    const finished = await job.run(() => api<{ id: string }>('DELETE', `/services/${encodeURIComponent(name)}${query ? `?${query}` : ''}`), { failure: 'UNINSTALL_FAILED' });
    if (finished) done(finished.message);
  };
  return (
    <>
      <form class="card danger" onSubmit={uninstall}>
        <h2>Uninstall</h2>
        <label class="inline">
          <input type="checkbox" name="instances" checked={instances} onChange={(e) => setInstances((e.target as HTMLInputElement).checked)} /> Also delete its instances
        </label>
        <label class="inline">
          <input type="checkbox" name="dropDatabases" checked={instances && drop} disabled={!instances} onChange={(e) => setDrop((e.target as HTMLInputElement).checked)} /> Also drop their databases and database users
        </label>
        <label class="inline">
          <input type="checkbox" name="keepLogs" checked={keepLogs} onChange={(e) => setKeepLogs((e.target as HTMLInputElement).checked)} /> Keep its logs
        </label>
        <button type="submit" class="danger" disabled={running}>
          Uninstall
        </button>
        <JobBar progress={job.progress} label="uninstall" />
        <ErrorText error={job.error} />
      </form>
      {/* Outside the form: the dialog's own form must not submit this one. */}
      {dialog}
    </>
  );
}
