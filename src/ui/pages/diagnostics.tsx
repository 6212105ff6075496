// Diagnostics: the version, sessions and memory, recent jobs, every alarm.
import { ErrorText } from '../components/errors';
import { useFetch } from '../hooks/fetch';
import type { Diagnostics } from '../types';

export function DiagnosticsPage() {
  const { data, error } = useFetch<Diagnostics>('/diagnostics');
  if (!data) return <ErrorText error={error} />;
  return (
    <section>
      <h1>Diagnostics</h1>
      <p>
        App Platform {data.status.version} (build {data.status.label}) on {data.status.board}, Node.js {data.node}, {data.sessions} Manager sessions, memory{' '}
        {(data.status.memory.rss / 1048576).toFixed(1)} MB
      </p>
      <h2>Recent jobs</h2>
      <ul>
        {data.jobs.map((j) => (
          <li key={j.id}>
            {j.startedAt} {j.kind} {j.target}: {j.state} — {j.message}
          </li>
        ))}
      </ul>
      <h2>Alarms</h2>
      <ul>
        {[...data.alarms.active, ...data.alarms.cleared].map((a) => (
          <li key={`${a.id}-${a.clearedAt}`}>
            {a.raisedAt} {a.severity} {a.source} {a.code}: {a.text} {a.clearedAt ? `(cleared ${a.clearedAt})` : '(active)'}
          </li>
        ))}
      </ul>
      <p>
        <a href="/manager/api/openapi.json">API description (OpenAPI)</a>
      </p>
    </section>
  );
}
