// Restore a backup file by upload: on an instance's page as a copy (another
// name in its domain) or over that instance, and only that one, after the
// person confirmed; on the home page (`instance` null) the backup's own
// instance (as after a delete) or a copy, never over an existing one.
import { useState } from 'preact/hooks';
import { upload } from '../api';
import { useConfirm } from '../confirm';
import { backupOf, ENCRYPTED, RestoreQuestion } from '../dangerous';
import { useRefresh } from '../hooks/fetch';
import { useJob } from '../hooks/jobs';
import type { Instance } from '../types';
import { ErrorText } from './errors';
import { JobBar } from './progress';

export function RestoreForm({ instance }: { instance: Instance | null }) {
  const refresh = useRefresh();
  const [cloneName, setCloneName] = useState('');
  const job = useJob();
  const [ask, dialog] = useConfirm();
  const id: string | null = instance?.id ?? null;
  const onRestore = async (e: Event) => {
    e.preventDefault();
    const input = (e.target as HTMLFormElement).elements.namedItem('file') as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    job.setError(null);
    const backup = await backupOf(file);
    // Over this instance, and only this one, when the person says so: the box refuses a backup of another instance.
    if (id && !cloneName && !(await ask({ title: `Replace ${id} with the backup?`, consequence: <RestoreQuestion id={id} file={file} backup={backup} />, confirm: `Replace ${id}` }))) return;
    // An encrypted backup's domain is known on the box only: a copy without a domain gets the backup's there.
    const domain = instance?.domain ?? (backup === ENCRYPTED ? undefined : backup?.instance?.domain);
    const query = cloneName ? `?name=${encodeURIComponent(cloneName)}${domain ? `&domain=${encodeURIComponent(domain)}` : ''}` : id ? `?replace=${encodeURIComponent(id)}` : '';
    await job.run((uploaded) => upload<{ id: string }>(`/restores/instances/upload${query}`, file, uploaded), { failure: 'RESTORE_FAILED', upload: 0.5 });
    refresh();
  };
  return (
    <>
      <form class="card" onSubmit={onRestore}>
        <h2>{id ? 'Restore' : 'Restore an instance'}</h2>
        <label>
          Backup file
          <input type="file" name="file" accept=".dump,.apbk,.enc,application/octet-stream" />
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
        <JobBar progress={job.progress} label="restore" />
        <ErrorText error={job.error} />
      </form>
      {/* Outside the form: the dialog's own form must not submit this one. */}
      {dialog}
    </>
  );
}
