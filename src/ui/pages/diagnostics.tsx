// Diagnostics: the version, sessions and memory, recent jobs, every alarm.
import { ErrorText } from '../components/errors';
import { bytes, when } from '../format';
import { useFetch } from '../hooks/fetch';
import type { Diagnostics } from '../types';

export function DiagnosticsPage() {
  const { data, error } = useFetch<Diagnostics>('/diagnostics');
  if (!data) return <ErrorText error={error} />;
  const alarms = [...data.alarms.active, ...data.alarms.cleared];
  return (
    <section>
      <h1>Diagnostics</h1>
      <p>
        App Platform {data.status.version} (build {data.status.label}) on {data.status.board}, Node.js {data.node}, {data.sessions} Manager sessions, memory {bytes(data.status.memory.rss)}
      </p>
      <h2>Recent jobs</h2>
      {data.jobs.length === 0 ? (
        <p>No jobs yet: backups, restores, installs and clean-ups show here.</p>
      ) : (
        <ul>
          {data.jobs.map((j) => (
            <li key={j.id}>
              {when(j.startedAt)} {j.kind} {j.target}: {j.state} — {j.message}
            </li>
          ))}
        </ul>
      )}
      <h2>Alarms</h2>
      {alarms.length === 0 ? (
        <p>No alarms, active or cleared.</p>
      ) : (
        <ul>
          {alarms.map((a) => (
            <li key={`${a.id}-${a.clearedAt}`}>
              {when(a.raisedAt)} {a.severity} {a.source} {a.code}: {a.text} {a.clearedAt ? `(cleared ${when(a.clearedAt)})` : '(active)'}
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href="/manager/api/openapi.json">API description (OpenAPI)</a>
      </p>
    </section>
  );
}
