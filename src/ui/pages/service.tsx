// A service's page: its current run (state, pid, how long it is up,
// restarts) apart from its past crashes (each with when, how long it had run
// and the lines before it: an old crash must not read as a current fault),
// its instances, start, stop and restart (asked first), its limits, its log,
// and its uninstall (asked first; the page then says what was done).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { DangerButton } from '../confirm';
import { AppLink, useAppUrl } from '../components/app-link';
import { ErrorText, Missing } from '../components/errors';
import { LimitsForm, UsageLine } from '../components/limits';
import { State } from '../components/live';
import { LogView } from '../components/log';
import { ServiceUninstall } from '../components/uninstall';
import { ago, duration, when } from '../format';
import { useOnline } from '../hooks/events';
import { useFetch, useRefresh } from '../hooks/fetch';
import { href } from '../router';
import type { Crash, Instance, Service } from '../types';

/** The current process: what runs now, never the last crash. */
function CurrentRun({ s }: { s: Service }) {
  const online = useOnline();
  // "Up for" moves on while the page stays open.
  const [, setNow] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, []);
  const up = online && s.state === 'running' && s.startedAt;
  return (
    <dl class="fields">
      <dt>State</dt>
      <dd>
        <State state={s.state} />
        {online && s.pid ? ` pid ${s.pid}` : ''}
      </dd>
      {up && (
        <>
          <dt>Up for</dt>
          <dd>
            {duration((Date.now() - Date.parse(up)) / 1000)} (since {when(up)})
          </dd>
        </>
      )}
      <dt>Restarts</dt>
      <dd>
        {s.restarts} since it last ran stably ({s.deaths} {s.deaths === 1 ? 'death' : 'deaths'} in the restart window)
      </dd>
      {s.reason && s.state !== 'running' && (
        <>
          <dt>Why it is down</dt>
          <dd class="error">{s.reason}</dd>
        </>
      )}
      <dt>Open requests and WebSockets</dt>
      <dd>{s.streams}</dd>
    </dl>
  );
}

/** How a process ended, for people. */
function ending(c: Crash): string {
  if (c.reason === 'out-of-memory') return `killed: out of memory (limit ${c.memoryLimitMB} MB)`;
  return c.signal ? `signal ${c.signal}` : `exit code ${c.exitCode}`;
}

function PastCrashes({ crashes }: { crashes: readonly Crash[] }) {
  if (crashes.length === 0) return <p>No crash recorded.</p>;
  return (
    <ol class="crashes">
      {crashes.map((c) => (
        <li key={c.time}>
          <details>
            <summary>
              <time dateTime={c.time}>{when(c.time)}</time> ({ago(c.time)}): {ending(c)} after {duration(c.uptimeMs / 1000)}, version {c.version}
              {c.cutOff ? `; cut off: ${c.cutOff}` : ''}
            </summary>
            <pre class="log" tabIndex={0} aria-label={`The last lines before the crash of ${when(c.time)}`}>
              {c.lastLines.join('\n') || '(no output)'}
            </pre>
          </details>
        </li>
      ))}
    </ol>
  );
}

function Instances({ service }: { service: string }) {
  const { data, error } = useFetch<{ instances: Instance[] }>('/instances', { live: true });
  const url = useAppUrl();
  if (!data) return <ErrorText error={error} />;
  const mine = data.instances.filter((i) => i.service === service);
  if (mine.length === 0) return <p>No instances of {service} yet: create one on the <a href={href({ page: 'home' })}>Home</a> page.</p>;
  return (
    <ul class="instances">
      {mine.map((i) => (
        <li key={i.id}>
          <a href={href({ page: 'instance', id: i.id })}>{i.id}</a> <State state={i.state} /> at <AppLink path={i.path} url={url(i.path)} />
        </li>
      ))}
    </ul>
  );
}

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
  if (!s) return <Missing title={name} error={service.error} />;
  return (
    <section>
      <h1>{s.name}</h1>
      <dl class="fields">
        <dt>Version</dt>
        <dd>
          {s.version} ({s.label})
        </dd>
        <UsageLine service={s} />
      </dl>
      <h2>Current run</h2>
      <CurrentRun s={s} />
      <div class="buttons">
        <button type="button" disabled={busy} onClick={act('start')}>
          Start
        </button>
        <DangerButton
          disabled={busy}
          question={{ title: `Stop ${s.name}?`, consequence: <p>The service's process is stopped and stays stopped until someone starts it: every instance of it is unavailable until then, and its open requests and WebSocket connections are cut.</p>, confirm: `Stop ${s.name}` }}
          act={act('stop')}
        >
          Stop
        </DangerButton>
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
      <h2>Instances</h2>
      <Instances service={s.name} />
      <h2>Past crashes</h2>
      {crashes.data && <PastCrashes crashes={crashes.data.crashes} />}
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
