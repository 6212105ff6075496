// The Settings sections' buttons beyond saving settings: the test mail, the
// certificate and the passwords, the updates, restart and shutdown. Each says
// its outcome right beside itself (components/outcome.tsx); the dangerous
// ones ask first.
import { useState } from 'preact/hooks';
import { api, ApiError, follow } from '../api';
import { useConfirm, type Question } from '../confirm';
import { Action, useAction } from '../components/outcome';
import { ErrorText } from '../components/errors';
import { useFetch } from '../hooks/fetch';
import { href } from '../routes';
import { when } from '../format';
import type { Certificate, SupervisorUpdate, UpdateState } from '../types';

/** A test mail to the alarm address; a mail not set up yet says where to set it up. */
export function TestMail() {
  const [outcome, run] = useAction();
  const notSetUp = outcome.error instanceof ApiError && outcome.error.code === 'SMTP_NOT_CONFIGURED';
  return (
    <fieldset>
      <legend>Test mail</legend>
      <p class="note">Sends a mail to the alarm e-mail address above, through the SMTP server.</p>
      <Action
        outcome={outcome}
        help={
          notSetUp && (
            <p>
              Set up the mail server under <a href={href({ page: 'settings', section: 'smtp' })}>SMTP</a>, and the alarm address here.
            </p>
          )
        }
      >
        <button type="button" disabled={outcome.busy} onClick={() => run(async () => `Sent: ${(await api<{ reply: string }>('POST', '/mail/test', {})).reply}`)}>
          Send test mail
        </button>
      </Action>
    </fieldset>
  );
}

/** The webserver certificate, the Manager password, the Linux root and admin passwords. */
export function SecurityCards() {
  const loaded = useFetch<Certificate>('/certificate', { live: true });
  // Shown where the board sets them (not on the dev board).
  const linux = useFetch<{ users: string[]; supported: boolean }>('/system/linux-users');
  const [pem, setPem] = useState('');
  const [outcome, run] = useAction();
  const cert = loaded.data;
  const upload = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const installed = await api<Certificate>('PUT', '/certificate', { pem });
      setPem('');
      await loaded.reload();
      return `Installed: ${installed.subject}, valid until ${when(installed.validTo)}.`;
    });
  };
  return (
    <>
      <fieldset>
        <legend>Webserver certificate</legend>
        {cert && (
          <p>
            Now: {cert.subject} ({cert.custom ? 'uploaded' : 'self-signed'}), valid until {when(cert.validTo)} ·{' '}
            <a href="/manager/api/certificate/download" download>
              download
            </a>
          </p>
        )}
        <ErrorText error={loaded.error} />
        <form onSubmit={upload}>
          <label>
            A new certificate (PEM: certificate, intermediates, unencrypted key)
            <textarea name="pem" rows={6} value={pem} onInput={(e) => setPem((e.target as HTMLTextAreaElement).value)} />
          </label>
          <Action outcome={outcome}>
            <button type="submit" disabled={outcome.busy}>
              Upload certificate
            </button>
          </Action>
        </form>
      </fieldset>
      <fieldset>
        <legend>Passwords</legend>
        <p>
          <a href={href({ page: 'password' })}>Change the Manager password</a>
        </p>
        {linux.data?.supported === false && <p class="note">This board does not set the Linux passwords from the Manager.</p>}
        {linux.data?.supported && linux.data.users.map((user) => <LinuxPassword key={user} user={user} />)}
        <ErrorText error={linux.error} />
      </fieldset>
    </>
  );
}

/** The seed's "Linux root user" and "Linux admin user" passwords: handed to the box, never stored by the Manager. */
function LinuxPassword({ user }: { user: string }) {
  const [value, setValue] = useState('');
  const [outcome, run] = useAction();
  const set = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      await api('PUT', `/system/linux-users/${user}/password`, { password: value });
      setValue('');
      return 'set';
    });
  };
  return (
    <form class="setting" onSubmit={set}>
      <label>
        Linux {user} user password
        <input type="password" name={`linux-${user}`} autocomplete="new-password" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      </label>
      <Action outcome={outcome}>
        <button type="submit" disabled={outcome.busy}>
          Set
        </button>
      </Action>
    </form>
  );
}

/** A dangerous button that asks `question` first and says its outcome beside itself. */
function AskedAction({ label, question, act }: { label: string; question: Question; act: (progress: (message: string) => void) => Promise<string> }) {
  const [outcome, run] = useAction();
  const [ask, dialog] = useConfirm();
  return (
    <Action outcome={outcome}>
      <button type="button" class="danger" disabled={outcome.busy} onClick={async () => (await ask(question)) && run(act)}>
        {label}
      </button>
      {dialog}
    </Action>
  );
}

/** The App Platform image's update, and the Manager's own. */
export function UpdateCards() {
  const update = useFetch<UpdateState>('/update', { live: true });
  return (
    <>
      <fieldset>
        <legend>App Platform image</legend>
        {update.data && (
          <p>
            Running image {update.data.running ?? 'unknown'}; available: {update.data.available ?? 'none'}
          </p>
        )}
        <ErrorText error={update.error} />
        <AskedAction
          label="Update now"
          question={{ title: 'Update the App Platform now?', consequence: <p>The new image is downloaded and staged, then the box reboots to apply it: every app is unavailable until it is back.</p>, confirm: 'Update and reboot' }}
          act={async (progress) => (await follow((await api<{ id: string }>('POST', '/update', {})).id, (j) => progress(j.progress.note || j.message))).message}
        />
      </fieldset>
      <SupervisorUpdateBox />
    </>
  );
}

/**
 * The Manager (this supervisor) updates itself from the App Store as the seed
 * says: a signed package staged beside the running one, a hand-over through
 * init, the old one back when the new one does not get ready.
 */
function SupervisorUpdateBox() {
  const state = useFetch<SupervisorUpdate>('/supervisor/update', { live: true });
  const [outcome, run] = useAction();
  const [ask, dialog] = useConfirm();
  const s = state.data;
  const start = async () => {
    if (!(await ask({ title: 'Update the Manager now?', consequence: <p>The new Manager takes over from this one: app WebSockets (PBXes, clients) drop once and reconnect; this page reloads when it is back. If the new one does not get ready, this one comes back and an alarm says so.</p>, confirm: 'Update the Manager' }))) return;
    await run(async (progress) => (await follow((await api<{ id: string }>('POST', '/supervisor/update', {})).id, (j) => progress(j.progress.note || j.message))).message);
  };
  return (
    <fieldset>
      <legend>Manager update</legend>
      {s && (
        <p>
          Running Manager {s.version}
          {s.build ? ` (build ${s.build})` : ''}; the App Store offers {s.available ? `build ${s.available}` : 'none'}
          {s.error ? ` (${s.error})` : ''}
        </p>
      )}
      {s?.failed && <p class="error">{s.failed}</p>}
      {s?.refused && <p class="note">{s.refused}</p>}
      <ErrorText error={state.error} />
      <Action outcome={outcome}>
        <button type="button" class="danger" disabled={!s || s.refused !== null || s.available === null || outcome.busy} onClick={start}>
          Update the Manager
        </button>
        {dialog}
      </Action>
    </fieldset>
  );
}

/** Restart and shutdown of the box, each asked first. */
export function PowerCard() {
  return (
    <fieldset>
      <legend>Restart and shutdown</legend>
      <AskedAction
        label="Restart"
        question={{ title: 'Restart the App Platform?', consequence: <p>The box reboots: every app and every connection (PBXes, clients, this page) is cut until it is back, usually within a few minutes.</p>, confirm: 'Restart the App Platform' }}
        act={async () => ((await api<{ restarting: boolean }>('POST', '/system/restart', { confirm: true })).restarting ? 'restarting…' : 'this board does not restart itself')}
      />
      <AskedAction
        label="Shutdown"
        question={{ title: 'Shut the App Platform down?', consequence: <p>The box switches off: every app stays unavailable until someone powers it on again, on site or through its hypervisor.</p>, confirm: 'Shut down' }}
        act={async () => ((await api<{ shuttingDown: boolean }>('POST', '/system/shutdown', { confirm: true })).shuttingDown ? 'shutting down…' : 'this board does not shut itself down')}
      />
    </fieldset>
  );
}
