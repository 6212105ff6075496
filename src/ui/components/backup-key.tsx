// The backup key (docs/backup.md): while one is set every backup the box
// writes is encrypted with it. Generated or imported here, exported to be kept
// away from the box (shown once asked, with what losing it means), removed
// only after the person confirmed what that leaves unreadable.
import { useState } from 'preact/hooks';
import { api } from '../api';
import { DangerButton } from '../confirm';
import { useFetch } from '../hooks/fetch';
import { ErrorText } from './errors';

interface KeyView {
  readonly set: boolean;
  readonly fingerprint: string | null;
}

export function BackupKeyCard() {
  const state = useFetch<KeyView>('/backups/key');
  const [exported, setExported] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const act = (fn: () => Promise<unknown>) => async () => {
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(err);
    }
    await state.reload();
  };
  const showKey = act(async () => setExported((await api<{ key: string }>('POST', '/backups/key/export')).key));
  const generate = act(async () => {
    await api('POST', '/backups/key/generate');
    setExported((await api<{ key: string }>('POST', '/backups/key/export')).key);
  });
  const importKey = async (e: Event) => {
    e.preventDefault();
    await act(async () => {
      await api('POST', '/backups/key/import', { key: text });
      setText('');
    })();
  };
  const remove = act(async () => {
    await api('POST', '/backups/key/remove', { confirm: true });
    setExported(null);
  });
  const key = state.data;
  return (
    <fieldset class="backup-key">
      <legend>Backup key</legend>
      {key && !key.set && <p>No backup key: backups are written unencrypted (pg_restore reads them as they are).</p>}
      {key?.set && <p>Every backup this box writes (instances and the Manager, to a file, a URL or a download) is encrypted with key {key.fingerprint}. Restoring one needs this key on the box.</p>}
      {key?.set && exported && (
        <div class="exported" role="status">
          <p class="error">
            Keep this key safe, away from the box (a password manager, a printout in a safe). Without it no backup written with it can be read: not on a new box, not after the key is removed here. Anyone who has it and a backup can read the backup.
          </p>
          <code>{exported}</code>
        </div>
      )}
      {key?.set ? (
        <>
          {!exported && (
            <button type="button" onClick={showKey}>
              Export key
            </button>
          )}
          <DangerButton
            question={{
              title: `Remove backup key ${key.fingerprint}?`,
              consequence: (
                <p>Backups are written unencrypted from now on. Backups written with this key can then be restored only after its exported text is imported again, on this box or another: export it first if you have not kept it.</p>
              ),
              confirm: 'Remove backup key',
            }}
            act={remove}
          >
            Remove key
          </DangerButton>
        </>
      ) : (
        key && (
          <>
            <button type="button" onClick={generate}>
              Generate key
            </button>
            <form class="setting" onSubmit={importKey}>
              <label>
                Import a key (the exported text, apbk1:…)
                <input type="password" name="backupKey" autocomplete="off" value={text} onInput={(e) => setText((e.target as HTMLInputElement).value)} />
              </label>
              <button type="submit">Import</button>
            </form>
          </>
        )
      )}
      <ErrorText error={error ?? state.error} />
    </fieldset>
  );
}
