// The instance page's actions that need more than a question: a restore over
// the instance (the dialog says whose backup the file is, read from its
// header in the browser; an encrypted one only the box can read) and the database clean-up (warned about before,
// followed while it runs, reported when it ends).
import { api } from './api';
import { ErrorText } from './components/errors';
import { useConfirm } from './confirm';
import { useJob } from './hooks/jobs';

/**
 * What a backup file says of itself (src/backup/format.ts): format 2 ends with
 * "APBKEND2", a u32 header length, a u64 dump length and the checksum, the
 * JSON header right after the dump; format 1 starts with "APBACKUP1\n", a
 * u32 length and the header.
 */
export interface BackupHeader {
  readonly kind: string;
  readonly createdAt: string;
  readonly instance?: { readonly name: string; readonly domain: string };
}

const MAX_HEADER = 1024 * 1024;
const END_SIZE = 8 + 4 + 8 + 32;
const text = async (blob: Blob) => new TextDecoder().decode(await blob.arrayBuffer());

/** An encrypted backup (src/backup/crypt.ts): its header is inside; only the box, with its key, reads it. */
export const ENCRYPTED = 'encrypted';

/** The header of a backup file chosen in the page, ENCRYPTED, or null when it does not read as one (the box will say why). */
export async function backupOf(file: Blob): Promise<BackupHeader | typeof ENCRYPTED | null> {
  try {
    if ((await text(file.slice(0, 8))) === 'APBKENC1') return ENCRYPTED;
    if (file.size >= END_SIZE) {
      const end = new DataView(await file.slice(file.size - END_SIZE).arrayBuffer());
      if (new TextDecoder().decode(new Uint8Array(end.buffer, 0, 8)) === 'APBKEND2') {
        const length = end.getUint32(8);
        const dump = Number(end.getBigUint64(12));
        if (length === 0 || length > MAX_HEADER || dump + length + END_SIZE !== file.size) return null;
        return JSON.parse(await text(file.slice(dump, dump + length))) as BackupHeader;
      }
    }
    const start = new DataView(await file.slice(0, 14).arrayBuffer());
    if (start.byteLength < 14 || new TextDecoder().decode(new Uint8Array(start.buffer, 0, 10)) !== 'APBACKUP1\n') return null;
    const length = start.getUint32(10);
    if (length === 0 || length > MAX_HEADER) return null;
    return JSON.parse(await text(file.slice(14, 14 + length))) as BackupHeader;
  } catch {
    return null;
  }
}

/** The consequence of a restore over instance `id`, from the file's own header. */
export function RestoreQuestion({ id, file, backup }: { id: string; file: File; backup: BackupHeader | typeof ENCRYPTED | null }) {
  const header = backup === ENCRYPTED ? null : backup;
  const of = header?.instance ? `${header.instance.name}@${header.instance.domain}` : null;
  return (
    <>
      <p>
        {file.name}
        {of
          ? ` is a backup of ${of}, taken ${header!.createdAt}.`
          : backup === ENCRYPTED
            ? " is an encrypted backup: what it holds is read only on the box, with its backup key. The box decrypts and checks it after the upload, before it changes anything: without the key, with another key, or if it is a backup of another instance, it is refused and nothing changes."
            : ' does not read as an instance backup: the App Platform checks it before it changes anything.'}
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
