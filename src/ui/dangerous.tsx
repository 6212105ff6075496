// The instance page's actions that need more than a question: a restore over
// the instance (the dialog says whose backup the file is, read from its
// header in the browser) and the database clean-up (warned about before,
// followed while it runs, reported when it ends).
import { api } from './api';
import { ErrorText } from './components/errors';
import { useConfirm } from './confirm';
import { useJob } from './hooks/jobs';

/** What a backup file says of itself: its first bytes, "APBACKUP1\n", a u32 length and the JSON header. */
export interface BackupHeader {
  readonly kind: string;
  readonly createdAt: string;
  readonly instance?: { readonly name: string; readonly domain: string };
}

/** The header of a backup file chosen in the page, or null when it does not read as one (the box will say why). */
export async function backupOf(file: Blob): Promise<BackupHeader | null> {
  try {
    const start = new DataView(await file.slice(0, 14).arrayBuffer());
    const magic = new TextDecoder().decode(new Uint8Array(start.buffer, 0, 10));
    if (magic !== 'APBACKUP1\n') return null;
    const length = start.getUint32(10);
    if (length === 0 || length > 1024 * 1024) return null;
    return JSON.parse(new TextDecoder().decode(await file.slice(14, 14 + length).arrayBuffer())) as BackupHeader;
  } catch {
    return null;
  }
}

/** The consequence of a restore over instance `id`, from the file's own header. */
export function RestoreQuestion({ id, file, backup }: { id: string; file: File; backup: BackupHeader | null }) {
  const of = backup?.instance ? `${backup.instance.name}@${backup.instance.domain}` : null;
  return (
    <>
      <p>
        {file.name}
        {of ? ` is a backup of ${of}, taken ${backup!.createdAt}.` : ' does not read as an instance backup: the App Platform checks it before it changes anything.'}
      </p>
      {of && of !== id && (
        <p class="error">
          It is not a backup of {id}: the App Platform refuses to put it over this instance. Cancel and give a copy name to restore it as a new instance.
        </p>
      )}
      <p>
        The data in {id}'s database is replaced by the backup's, and its password and trace flags by those in the backup. The instance is stopped while the backup is restored. Its current data cannot be brought back: download a backup first if you may need it.
      </p>
    </>
  );
}

/**
 * "Clean up database": vacuumdb -f, which locks the database while it runs
 * and needs free space as large as its biggest table, so it asks first; then
 * the job's state shows, live, until it says done or failed.
 */
export function CleanupButton({ id, database }: { id: string; database: string }) {
  const [ask, dialog] = useConfirm();
  const { progress: job, error, run } = useJob();
  const running = job?.state === 'running';
  const start = async () => {
    const question = {
      title: `Clean up the database of ${id}?`,
      consequence: (
        <>
          <p>vacuumdb -f rewrites every table of database {database} to give the space of deleted rows back.</p>
          <p>While it runs the database is locked: {id} cannot read or write it, so the app waits or fails. It needs free disk space as large as the biggest table. It can take minutes on a large database.</p>
        </>
      ),
      confirm: 'Clean up now',
    };
    if (!(await ask(question))) return;
    await run(() => api<{ id: string }>('POST', `/instances/${encodeURIComponent(id)}/cleanup`, {}), { failure: 'CLEANUP_FAILED', failed: (j) => `Clean-up failed: ${j.message}` });
  };
  return (
    <>
      <button type="button" class="danger" disabled={running} onClick={start}>
        Clean up database
      </button>
      {dialog}
      {job && job.state !== 'failed' && (
        <p class="note cleanup" role="status">
          {running ? `Clean-up running, the database is locked: ${job.text}` : `Clean-up done: ${job.text}`}
        </p>
      )}
      <ErrorText error={error} />
    </>
  );
}
