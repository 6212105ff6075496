// The System page: the memory budget (what installs and instances are admitted
// against), then charts of the box's metrics over one range for all (1 h, 24 h,
// 7 d; remembered in this browser): CPU, memory and each partition against
// their whole, then one per instance database, instance WebSockets and service.
import { useEffect, useState } from 'preact/hooks';
import { RANGES, type Range } from '../axes';
import { Chart, type ChartSpec } from '../components/chart';
import { ErrorText } from '../components/errors';
import { bytes } from '../format';
import { useFetch } from '../hooks/fetch';
import type { Budget, Series, SettingSpec } from '../types';

const PARTITIONS: Readonly<Record<string, string>> = { p1: 'Boot partition (p1)', p2: 'Data partition (p2)', p3: 'System partition (p3)' };

/** The charts of what the box reports, with the wholes they are part of from the same list. */
export function chartList(series: readonly Series[], diskThreshold: number | null): ChartSpec[] {
  const latest = (name: string, labels: Record<string, string> = {}) =>
    series.find((s) => s.name === name && Object.keys(labels).every((k) => s.labels[k] === labels[k]))?.value;
  const of = (total: number | undefined, what?: string) => (total && total > 0 ? { total, ...(what ? { what } : {}) } : undefined);
  const memory = latest('ap_memory_total_bytes');
  const out: ChartSpec[] = [
    { title: 'CPU, % of all cores', name: 'ap_cpu_percent', labels: {}, unit: 'percent', top: 100 },
    { title: 'Memory in use', name: 'ap_memory_used_bytes', labels: {}, unit: 'bytes', top: memory, of: of(memory) },
    { title: 'Supervisor memory (resident)', name: 'ap_supervisor_memory_bytes', labels: {}, unit: 'bytes', of: of(memory) },
  ];
  const disks = series.filter((s) => s.name === 'ap_disk_used_bytes').sort((a, b) => (a.labels.partition === 'p2' ? -1 : b.labels.partition === 'p2' ? 1 : a.labels.partition!.localeCompare(b.labels.partition!)));
  for (const s of disks) {
    const partition = s.labels.partition!;
    const size = latest('ap_disk_size_bytes', { partition });
    // The disk guard watches the data partition only (src/monitor/disk.ts).
    const guarded = partition === 'p2' && diskThreshold !== null && size;
    out.push({
      title: `${PARTITIONS[partition] ?? `Partition ${partition}`}, used`,
      name: s.name,
      labels: s.labels,
      unit: 'bytes',
      top: size,
      of: of(size),
      ...(guarded ? { line: { value: (size * diskThreshold) / 100, text: `apps stop at ${diskThreshold} % (${bytes((size * diskThreshold) / 100)})` } } : {}),
    });
  }
  out.push({ title: 'Open WebSockets', name: 'ap_websockets_open', labels: {}, unit: 'count' });
  for (const s of series) {
    if (s.name === 'ap_instance_database_bytes') out.push({ title: `Database of ${s.labels.app_instance}`, name: s.name, labels: s.labels, unit: 'bytes' });
    if (s.name === 'ap_instance_websockets_open') out.push({ title: `WebSockets of ${s.labels.app_instance}`, name: s.name, labels: s.labels, unit: 'count' });
    if (s.name === 'ap_service_cpu_percent') out.push({ title: `CPU of ${s.labels.service}, % of one core`, name: s.name, labels: s.labels, unit: 'percent', atLeast: 100 });
    if (s.name === 'ap_service_memory_bytes') {
      const limit = latest('ap_service_memory_limit_bytes', s.labels);
      out.push({ title: `Memory of ${s.labels.service}`, name: s.name, labels: s.labels, unit: 'bytes', top: limit, of: of(limit, 'limit') });
    }
  }
  return out;
}

const RANGE_KEY = 'manager.chartRange';

/** The charts' range, kept in this browser (a page shown again opens on it). */
function useRange(): [Range, (range: Range) => void] {
  const [range, setRange] = useState<Range>(() => {
    try {
      const kept = localStorage.getItem(RANGE_KEY);
      return RANGES.find((r) => r.range === kept)?.range ?? 'hour';
    } catch {
      return 'hour'; // storage refused (a private window): the default
    }
  });
  const choose = (next: Range) => {
    try {
      localStorage.setItem(RANGE_KEY, next);
    } catch {
      // not kept: it still applies on this page
    }
    setRange(next);
  };
  return [range, choose];
}

/** The budget's parts, in the order they are taken from the total. */
function budgetRows(b: Budget): [label: string, bytes: number, note: string][] {
  const pg = b.postgres;
  return [
    ['Kernel', b.kernel.bytes, Object.keys(b.kernel.fields).join(', ') + (b.kernel.reservedBytes ? `, ${bytes(b.kernel.reservedBytes)} kept before MemTotal` : '')],
    ['Supervisor', b.supervisor.bytes, `PSS of ${b.supervisor.pids.length} process${b.supervisor.pids.length === 1 ? '' : 'es'}`],
    ['PostgreSQL', pg.bytes, `${pg.connections} connection${pg.connections === 1 ? '' : 's'} (${pg.ownConnections} the supervisor's), ~${bytes(pg.perConnectionBytes)} each${pg.perConnectionMeasured ? '' : ' (default)'}`],
    ...b.services.map((s): [string, number, string] => [
      `Service ${s.name}`,
      s.reservedBytes,
      `${s.state}; ${s.memoryMB} MB + ${s.instanceMB} MB × ${s.instances} instance${s.instances === 1 ? '' : 's'}${s.usageBytes === null ? '' : `; using ${bytes(s.usageBytes)}`}`,
    ]),
  ];
}

function BudgetSection() {
  const { data, error } = useFetch<Budget>('/system/budget', { live: true });
  const from = { flag: '--memory-budget-mb', board: "the board's RAM", meminfo: 'MemTotal' } as const;
  return (
    <>
      <h2>Memory budget</h2>
      <ErrorText error={error} />
      {data && (
        <>
          <div class="budget-bar" role="img" aria-label={`${bytes(Math.max(0, data.freeBytes))} free of ${bytes(data.totalBytes)}`}>
            {budgetRows(data).map(([label, size], i) => (
              <span key={label} class={`part part-${Math.min(i, 3)}`} style={{ width: `${(100 * Math.max(0, size)) / data.totalBytes}%` }} title={`${label}: ${bytes(size)}`} />
            ))}
          </div>
          <table class="budget">
            <tbody>
              <tr>
                <th>Total</th>
                <td>{bytes(data.totalBytes)}</td>
                <td>{from[data.totalFrom]}</td>
              </tr>
              {budgetRows(data).map(([label, size, note]) => (
                <tr key={label}>
                  <th>{label}</th>
                  <td>{bytes(size)}</td>
                  <td>{note}</td>
                </tr>
              ))}
              <tr class={data.freeBytes < 0 ? 'over' : ''}>
                <th>Free</th>
                <td>{bytes(data.freeBytes)}</td>
                <td>what a new app or instance may take; more is refused unless forced</td>
              </tr>
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

/** How often the list of series is asked again: a service started or a partition mounted since gets its chart without a reload. */
const RELIST_MS = 10_000;

export function SystemPage() {
  const { data, error, reload } = useFetch<{ series: Series[] }>('/metrics', { live: true });
  useEffect(() => {
    const timer = setInterval(() => void reload(), RELIST_MS);
    return () => clearInterval(timer);
  }, [reload]);
  const settings = useFetch<{ settings: Record<string, SettingSpec> }>('/settings', { live: true });
  const [range, setRange] = useRange();
  const threshold = Number(settings.data?.settings.diskThreshold?.value);
  return (
    <section>
      <h1>System</h1>
      <p>
        <a href="#/boot">Boot settings</a> · <a href="#/rescue-log">Rescue system log</a> · <a href="/manager/metrics">Prometheus metrics</a> · <a href="#/diagnostics">Diagnostics</a>
      </p>
      <BudgetSection />
      <h2>Metrics</h2>
      <fieldset class="range-switch">
        <legend>Time range of the charts</legend>
        {RANGES.map((r) => (
          <label key={r.range} class="inline">
            <input type="radio" name="range" value={r.range} checked={range === r.range} onChange={() => setRange(r.range)} /> {r.label}
          </label>
        ))}
      </fieldset>
      <p class="note">{range === 'hour' ? 'Every sample of the last hour.' : `5-minute averages of the last ${range === 'day' ? '24 hours' : '7 days'}; the last one is still filling.`}</p>
      <ErrorText error={error ?? settings.error} />
      <div class="charts">
        {data && chartList(data.series, Number.isFinite(threshold) && threshold > 0 ? threshold : null).map((spec) => <Chart key={spec.name + JSON.stringify(spec.labels)} spec={spec} range={range} />)}
      </div>
    </section>
  );
}
