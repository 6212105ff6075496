// A service's page: its process state, start, stop and restart (asked
// first), its last crash with the lines before it, its log, and its
// uninstall (asked first; the page then says what was done).
import { useState } from 'preact/hooks';
import { api } from '../api';
import { DangerButton } from '../confirm';
import { ErrorText } from '../components/errors';
import { LimitsForm, UsageLine } from '../components/limits';
import { LogView } from '../components/log';
import { ServiceUninstall } from '../components/uninstall';
import { useFetch, useRefresh } from '../hooks/fetch';
import { href } from '../router';
import type { Crash, Service } from '../types';

export function ServicePage({ name }: { name: string }) {
  const refresh = useRefresh();
  const base = `/services/${encodeURIComponent(name)}`;
  const service = useFetch<Service>(base, { live: true });
  const crashes = useFetch<{ crashes: Crash[] }>(`${base}/crashes`, { live: true });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [uninstalled, setUninstalled] = useState<string | null>(null);
  const load = () => Promise.all([service.reload(), crashes.reload()]);
  const act = (what: string) => async () => {
    setError(null);
    setBusy(true);
    try {
      await api('POST', `${base}/${what}`, {});
      await load();
      refresh();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (uninstalled !== null) {
    return (
      <section>
        <h1>{name}</h1>
        <p role="status">{uninstalled}.</p>
        <p>
          <a href={href({ page: 'home' })}>Back to the overview</a>
        </p>
      </section>
    );
  }
  const s = service.data;
  if (!s) return <ErrorText error={service.error} />;
  const all = crashes.data?.crashes ?? [];
  const last = all[0];
  return (
    <section>
      <h1>{s.name}</h1>
      <dl class="fields">
        <dt>Version</dt>
        <dd>
          {s.version} ({s.label})
        </dd>
        <dt>State</dt>
        <dd class={`state ${s.state}`}>
          {s.state}
          {s.pid ? ` (pid ${s.pid})` : ''}
        </dd>
        <dt>Restarts</dt>
        <dd>
          {s.restarts} since it last ran stably ({s.deaths} deaths in the restart window)
        </dd>
        <dt>Open requests and WebSockets</dt>
        <dd>{s.streams}</dd>
        <UsageLine service={s} />
        {s.reason && (
          <>
            <dt>Failure</dt>
            <dd>{s.reason}</dd>
          </>
        )}
      </dl>
      <div class="buttons">
        <button type="button" disabled={busy} onClick={act('start')}>
          Start
        </button>
        <button type="button" disabled={busy} onClick={act('stop')}>
          Stop
        </button>
        <DangerButton
          disabled={busy}
          question={{ title: `Restart ${s.name}?`, consequence: <p>The service's process is stopped and started again: every instance of it is unavailable meanwhile, and its open requests and WebSocket connections are cut.</p>, confirm: `Restart ${s.name}` }}
          act={act('restart')}
        >
          Restart
        </DangerButton>
        <button type="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      <ErrorText error={error ?? service.error ?? crashes.error} />
      <h2>Last crash</h2>
      {last ? (
        <div class="card">
          <p>
            {last.time}: {last.reason === 'out-of-memory' ? `killed: out of memory (limit ${last.memoryLimitMB} MB)` : last.signal ? `signal ${last.signal}` : `exit code ${last.exitCode}`} after {(last.uptimeMs / 1000).toFixed(1)} s (version {last.version}){last.cutOff ? `; cut off: ${last.cutOff}` : ''}. {all.length} crash
            records kept.
          </p>
          <pre class="log" tabIndex={0} aria-label="The last lines before the crash">
            {last.lastLines.join('\n') || '(no output)'}
          </pre>
        </div>
      ) : (
        <p>No crash recorded.</p>
      )}
      <LimitsForm key={JSON.stringify(s.limits.source)} service={s} saved={() => void load()} />
      <LogView base={base} name={name} />
      <ServiceUninstall
        name={name}
        done={(message) => {
          setUninstalled(message);
          refresh();
        }}
      />
    </section>
  );
}
