// A service's resources on its page: what its cgroup counts against its
// limits, where each limit comes from, and the form of the limits setting
// (an empty field goes back to app.json's or the board's value).
import { useState } from 'preact/hooks';
import { api } from '../api';
import { bytes, duration } from '../format';
import type { Service } from '../types';
import { ErrorText } from './errors';

const FIELDS = [
  ['memoryMB', 'Memory in MB with no instance'],
  ['instanceMB', 'Memory in MB more per instance'],
  ['cpuWeight', 'CPU weight (100: an even share)'],
  ['pids', 'Processes and threads'],
] as const;
type Field = (typeof FIELDS)[number][0];

/** "Memory 31.2 MB of 52 MB (peak 40.0 MB), CPU 12.3 s", and where the limits come from. */
export function UsageLine({ service }: { service: Service }) {
  const { limits, usage } = service;
  const memory = usage
    ? `Memory ${bytes(usage.memoryBytes)} of ${limits.memoryLimitMB} MB${usage.memoryPeakBytes === null ? '' : ` (peak ${bytes(usage.memoryPeakBytes)})`}, CPU ${duration(usage.cpuSeconds)}`
    : `Limit ${limits.memoryLimitMB} MB, not counted: ${limits.enforced ? 'no cgroup yet' : 'this system gives the supervisor no cgroups, the limits are not enforced'}`;
  const from = FIELDS.map(([field]) => `${field} ${limits.source[field]}`).join(', ');
  return (
    <>
      <dt>Resources</dt>
      <dd>
        {memory}; CPU weight {limits.cpuWeight}, at most {limits.pids} processes; limits from: {from}
      </dd>
    </>
  );
}

/** The limits setting: the fields set by an administrator filled in, the others empty. */
export function LimitsForm({ service, saved }: { service: Service; saved: () => void }) {
  const { limits } = service;
  const initial = Object.fromEntries(FIELDS.map(([field]) => [field, limits.source[field] === 'setting' ? String(limits[field]) : ''])) as Record<Field, string>;
  const [values, setValues] = useState(initial);
  const [state, setState] = useState<{ error: unknown; saved: boolean }>({ error: null, saved: false });
  const save = async (e: Event) => {
    e.preventDefault();
    // Anything but digits goes as typed, so the server names the field it refuses (NaN would be sent as null: the default).
    const value = (text: string) => (text.trim() === '' ? null : /^\d+$/.test(text.trim()) ? Number(text.trim()) : text);
    const body = Object.fromEntries(FIELDS.map(([field]) => [field, value(values[field])]));
    try {
      await api('PUT', `/services/${encodeURIComponent(service.name)}/limits`, body);
      setState({ error: null, saved: true });
      saved();
    } catch (err) {
      setState({ error: err, saved: false });
    }
  };
  return (
    <form class="card" onSubmit={save}>
      <h2>Limits</h2>
      <p class="note">Applied at once and kept. An empty field takes the package's value, or the board's. In force now: {FIELDS.map(([f]) => `${f} ${limits[f]}`).join(', ')}.</p>
      {FIELDS.map(([field, label]) => (
        <label key={field}>
          {label}
          <input name={field} inputMode="numeric" value={values[field]} onInput={(e) => setValues({ ...values, [field]: (e.target as HTMLInputElement).value })} />
        </label>
      ))}
      <button type="submit">Save limits</button>
      {state.saved && <span class="ok">saved</span>}
      <ErrorText error={state.error} />
    </form>
  );
}
