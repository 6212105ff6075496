// Settings: the box's settings by section (each saved on its own, refused
// with the reason), the backup key, the webserver certificate, the Manager and Linux
// passwords, test mail, update, restart and shutdown (asked first).
import { useState } from 'preact/hooks';
import { api, follow } from '../api';
import { useConfirm, type Question } from '../confirm';
import { BackupKeyCard } from '../components/backup-key';
import { ErrorText } from '../components/errors';
import { useFetch } from '../hooks/fetch';
import type { Certificate, SettingSpec, SupervisorUpdate, UpdateState } from '../types';

const SECTIONS: [string, string[]][] = [
  ['General', ['developerMode', 'disableAppSecurity', 'appStoreUrl', 'devicesAppUrl', 'devicesAppUrl2', 'dnsName', 'ntpServer1', 'ntpServer2', 'timezone', 'dnsServer1', 'dnsServer2', 'dbOptimizationHour', 'commandFile']],
  ["Let's Encrypt", ['letsEncryptEnabled', 'letsEncryptUrl', 'letsEncryptPassword', 'letsEncryptKeyLength', 'letsEncryptDnsNames']],
  ['Alarms and events', ['eventsUrl', 'eventsUser', 'eventsPassword', 'alarmEmail', 'diskThreshold']],
  ['SMTP', ['smtpServer', 'smtpPort', 'smtpSecurity', 'smtpUser', 'smtpPassword', 'smtpSender', 'smtpInsecureTls']],
  // replicationMode is changed through PUT /replication, which applies it (docs/replication.md).
  ['Replication', ['replicationPrimary', 'replicationPort', 'replicationPassword']],
  ['Registered Access Domains', ['accessDomains']],
  // What the PBX Manager's App Installer may do here (docs/installer.md).
  ['App Installer', ['installerMode']],
];

/** Sections whose settings are kept and checked but not acted on by this version: said plainly. */
const NOT_YET: Record<string, string> = {
  "Let's Encrypt": 'Saved and checked; this version does not request certificates from Let\'s Encrypt yet (upload one under Security).',
  Replication: 'A standby\'s settings: saved and checked; this version does not run a standby yet. This box is made a primary, and its standbys added, on the Replication page (or with ap ctl replication: docs/replication.md).',
  'Registered Access Domains': 'Saved and checked; not used by this version yet.',
};

/** Settings of General that are kept and checked but not acted on by this version (the box's network, SSH, Devices). */
const NOT_APPLIED = new Set(['devicesAppUrl', 'devicesAppUrl2', 'dnsName', 'ntpServer1', 'ntpServer2', 'dnsServer1', 'dnsServer2']);

/** A form's submit that runs `fn` and keeps its outcome: saved, or the error to show. */
function useSubmit(fn: () => Promise<unknown>): [{ error?: unknown; saved?: boolean }, (e: Event) => Promise<void>] {
  const [state, setState] = useState<{ error?: unknown; saved?: boolean }>({});
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await fn();
      setState({ saved: true });
    } catch (err) {
      setState({ error: err });
    }
  };
  return [state, submit];
}

function Setting({ name, spec }: { name: string; spec: SettingSpec }) {
  const [value, setValue] = useState(spec.value === '***' ? '' : spec.value);
  const secret = /password/i.test(name);
  const [state, save] = useSubmit(() => api('PUT', `/settings/${name}`, { value }));
  return (
    <form class="setting" onSubmit={save}>
      <label>
        {spec.label}
        {spec.choices ? (
          <select name={name} value={value} onChange={(e) => setValue((e.target as HTMLSelectElement).value)}>
            {spec.choices.map((c) => (
              <option key={c} value={c}>
                {c === 'true' ? 'on' : c === 'false' ? 'off' : c}
              </option>
            ))}
          </select>
        ) : name === 'commandFile' || name === 'letsEncryptDnsNames' || name === 'accessDomains' ? (
          <textarea name={name} rows={4} value={value} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
        ) : (
          <input name={name} type={secret ? 'password' : 'text'} placeholder={secret && spec.value ? '(set)' : ''} value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
        )}
      </label>
      <button type="submit">Save</button>
      {state.saved && <span class="ok">saved</span>}
      {NOT_APPLIED.has(name) && <p class="note">Kept and checked; not applied by this version yet.</p>}
      <ErrorText error={state.error} />
    </form>
  );
}

export function SettingsPage() {
  const { data, error } = useFetch<{ settings: Record<string, SettingSpec> }>('/settings');
  const loaded = useFetch<Certificate>('/certificate');
  const update = useFetch<UpdateState>('/update');
  const [pem, setPem] = useState('');
  const [uploaded, setUploaded] = useState<Certificate | null>(null);
  const [certError, setCertError] = useState<unknown>(null);
  const cert = uploaded ?? loaded.data;
  const uploadCert = async (e: Event) => {
    e.preventDefault();
    setCertError(null);
    try {
      setUploaded(await api<Certificate>('PUT', '/certificate', { pem }));
    } catch (err) {
      setCertError(err);
    }
  };
  if (!data) return <ErrorText error={error} />;
  const settings = data.settings;
  return (
    <section>
      <h1>Settings</h1>
      {SECTIONS.map(([title, names]) => (
        <fieldset key={title}>
          <legend>{title}</legend>
          {NOT_YET[title] && <p class="note">{NOT_YET[title]}</p>}
          {names.filter((n) => settings[n]).map((n) => <Setting key={n} name={n} spec={settings[n]!} />)}
        </fieldset>
      ))}
      <BackupKeyCard />
      <fieldset>
        <legend>Security</legend>
        {cert && (
          <p>
            Current webserver certificate: {cert.subject} ({cert.custom ? 'uploaded' : 'self-signed'}), valid until {cert.validTo} ·{' '}
            <a href="/manager/api/certificate/download" download>
              download
            </a>
          </p>
        )}
        <form onSubmit={uploadCert}>
          <label>
            Webserver certificate (PEM: certificate, intermediates, unencrypted key)
            <textarea name="pem" rows={6} value={pem} onInput={(e) => setPem((e.target as HTMLTextAreaElement).value)} />
          </label>
          <button type="submit">Upload certificate</button>
          <ErrorText error={certError ?? loaded.error} />
        </form>
        <p>
          <a href="#/password">Change the Manager password</a>
        </p>
        <LinuxPassword user="root" />
        <LinuxPassword user="admin" />
      </fieldset>
      <SystemActions update={update.data} />
      <SupervisorUpdateBox />
      <ErrorText error={update.error} />
    </section>
  );
}

/** The seed's "Linux root user" and "Linux admin user" passwords: handed to the box, never stored by the Manager. */
function LinuxPassword({ user }: { user: string }) {
  const [value, setValue] = useState('');
  const [state, save] = useSubmit(async () => {
    await api('PUT', `/system/linux-users/${user}/password`, { password: value });
    setValue('');
  });
  return (
    <form class="setting" onSubmit={save}>
      <label>
        Linux {user} user password
        <input type="password" name={`linux-${user}`} autocomplete="new-password" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Set</button>
      {state.saved && <span class="ok">set</span>}
      <ErrorText error={state.error} />
    </form>
  );
}

function SystemActions({ update }: { update: UpdateState | null }) {
  const [message, setMessage] = useState<string>('');
  const [error, setError] = useState<unknown>(null);
  const [ask, dialog] = useConfirm();
  const run = (fn: () => Promise<string>, question?: Question) => async () => {
    if (question && !(await ask(question))) return;
    setError(null);
    setMessage('…');
    try {
      setMessage(await fn());
    } catch (err) {
      setMessage('');
      setError(err);
    }
  };
  return (
    <>
      <fieldset>
        <legend>Mail</legend>
        <button type="button" onClick={run(async () => (await api<{ reply: string }>('POST', '/mail/test', {})).reply)}>
          Send test mail
        </button>
      </fieldset>
      <fieldset>
        <legend>Update</legend>
        {update && (
          <p>
            Running image {update.running ?? 'unknown'}; available: {update.available ?? 'none'}
          </p>
        )}
        <button type="button" onClick={run(async () => (await follow((await api<{ id: string }>('POST', '/update', {})).id, (j) => setMessage(j.progress.note || j.message))).message, { title: 'Update the App Platform now?', consequence: <p>The new image is downloaded and staged, then the box reboots to apply it: every app is unavailable until it is back.</p>, confirm: 'Update and reboot' })} class="danger">
          Update now
        </button>
      </fieldset>
      <fieldset>
        <legend>Restart and shutdown</legend>
        <button type="button" onClick={run(async () => ((await api<{ restarting: boolean }>('POST', '/system/restart', { confirm: true })).restarting ? 'restarting…' : 'this board does not restart itself'), { title: 'Restart the App Platform?', consequence: <p>The box reboots: every app and every connection (PBXes, clients, this page) is cut until it is back, usually within a few minutes.</p>, confirm: 'Restart the App Platform' })} class="danger">
          Restart
        </button>
        <button type="button" onClick={run(async () => ((await api<{ shuttingDown: boolean }>('POST', '/system/shutdown', { confirm: true })).shuttingDown ? 'shutting down…' : 'this board does not shut itself down'), { title: 'Shut the App Platform down?', consequence: <p>The box switches off: every app stays unavailable until someone powers it on again, on site or through its hypervisor.</p>, confirm: 'Shut down' })} class="danger">
          Shutdown
        </button>
      </fieldset>
      {dialog}
      {message && <p class="note">{message}</p>}
      <ErrorText error={error} />
    </>
  );
}

/**
 * The Manager (this supervisor) updates itself from the App Store as the seed
 * says: a signed package staged beside the running one, a hand-over through
 * init, the old one back when the new one does not get ready.
 */
function SupervisorUpdateBox() {
  const state = useFetch<SupervisorUpdate>('/supervisor/update');
  const [message, setMessage] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [ask, dialog] = useConfirm();
  const s = state.data;
  const start = async () => {
    if (!(await ask({ title: 'Update the Manager now?', consequence: <p>The new Manager takes over from this one: app WebSockets (PBXes, clients) drop once and reconnect; this page reloads when it is back. If the new one does not get ready, this one comes back and an alarm says so.</p>, confirm: 'Update the Manager' }))) return;
    setError(null);
    setMessage('…');
    try {
      const job = await follow((await api<{ id: string }>('POST', '/supervisor/update', {})).id, (j) => setMessage(j.progress.note || j.message));
      setMessage(job.message);
    } catch (err) {
      setMessage('');
      setError(err);
    }
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
      <button type="button" class="danger" disabled={!s || s.refused !== null || s.available === null} onClick={start}>
        Update the Manager
      </button>
      {dialog}
      {message && <p class="note">{message}</p>}
      <ErrorText error={error ?? state.error} />
    </fieldset>
  );
}
