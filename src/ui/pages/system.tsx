// The System page: the memory budget (what installs and instances are admitted
// against), then charts of the box's metrics (the fixed ones, then one per
// partition, instance database, instance WebSockets and service CPU).
import { Chart, type Format } from '../components/chart';
import { ErrorText } from '../components/errors';
import { MB } from '../format';
import { useFetch } from '../hooks/fetch';
import type { Budget, Series } from '../types';

type ChartSpec = [title: string, name: string, labels: Record<string, string>, format: Format];

const CHARTS: ChartSpec[] = [
  ['CPU', 'ap_cpu_percent', {}, (v) => `${v.toFixed(0)} %`],
  ['Supervisor memory', 'ap_supervisor_memory_bytes', {}, (v) => `${(v / 1048576).toFixed(1)} MB`],
  ['Data partition (p2) used', 'ap_disk_used_bytes', { partition: 'p2' }, (v) => `${(v / 1048576).toFixed(0)} MB`],
  ['WebSockets', 'ap_websockets_open', {}, (v) => String(v)],
];

/** The series to chart: the fixed ones, then those the box has. */
function chartList(series: readonly Series[]): ChartSpec[] {
  const out = [...CHARTS];
  for (const s of series) {
    if (s.name === 'ap_disk_used_bytes' && s.labels.partition !== 'p2') out.push([`Partition ${s.labels.partition} used`, s.name, s.labels, MB]);
    if (s.name === 'ap_instance_database_bytes') out.push([`Database of ${s.labels.app_instance}`, s.name, s.labels, MB]);
    if (s.name === 'ap_instance_websockets_open') out.push([`WebSockets of ${s.labels.app_instance}`, s.name, s.labels, String]);
    if (s.name === 'ap_service_cpu_percent') out.push([`CPU of ${s.labels.service}`, s.name, s.labels, (v) => `${v.toFixed(0)} %`]);
  }
  return out;
}

/** The budget's parts, in the order they are taken from the total. */
function budgetRows(b: Budget): [label: string, bytes: number, note: string][] {
  const pg = b.postgres;
  return [
    ['Kernel', b.kernel.bytes, Object.keys(b.kernel.fields).join(', ') + (b.kernel.reservedBytes ? `, ${MB(b.kernel.reservedBytes)} kept before MemTotal` : '')],
    ['Supervisor', b.supervisor.bytes, `PSS of ${b.supervisor.pids.length} process${b.supervisor.pids.length === 1 ? '' : 'es'}`],
    ['PostgreSQL', pg.bytes, `${pg.connections} connection${pg.connections === 1 ? '' : 's'} (${pg.ownConnections} the supervisor's), ~${MB(pg.perConnectionBytes)} each${pg.perConnectionMeasured ? '' : ' (default)'}`],
    ...b.services.map((s): [string, number, string] => [
      `Service ${s.name}`,
      s.reservedBytes,
      `${s.state}; ${s.memoryMB} MB + ${s.instanceMB} MB × ${s.instances} instance${s.instances === 1 ? '' : 's'}${s.usageBytes === null ? '' : `; using ${MB(s.usageBytes)}`}`,
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
          <div class="budget-bar" role="img" aria-label={`${MB(Math.max(0, data.freeBytes))} free of ${MB(data.totalBytes)}`}>
            {budgetRows(data).map(([label, bytes], i) => (
              <span key={label} class={`part part-${Math.min(i, 3)}`} style={{ width: `${(100 * Math.max(0, bytes)) / data.totalBytes}%` }} title={`${label}: ${MB(bytes)}`} />
            ))}
          </div>
          <table class="budget">
            <tbody>
              <tr>
                <th>Total</th>
                <td>{MB(data.totalBytes)}</td>
                <td>{from[data.totalFrom]}</td>
              </tr>
              {budgetRows(data).map(([label, bytes, note]) => (
                <tr key={label}>
                  <th>{label}</th>
                  <td>{MB(bytes)}</td>
                  <td>{note}</td>
                </tr>
              ))}
              <tr class={data.freeBytes < 0 ? 'over' : ''}>
                <th>Free</th>
                <td>{data.freeBytes < 0 ? `−${MB(-data.freeBytes)}` : MB(data.freeBytes)}</td>
                <td>what a new app or instance may take; more is refused unless forced</td>
              </tr>
            </tbody>
          </table>
        </>
      )}
    </>
  );
}

export function SystemPage() {
  const { data, error } = useFetch<{ series: Series[] }>('/metrics');
  return (
    <section>
      <h1>System</h1>
      <BudgetSection />
      <h2>Metrics</h2>
      <ErrorText error={error} />
      <div class="charts">
        {chartList(data?.series ?? []).map(([title, name, labels, format]) => (
          <Chart key={name + JSON.stringify(labels)} title={title} name={name} labels={labels} format={format} />
        ))}
      </div>
      <p>
        <a href="/manager/ramdisk.log">Rescue system log</a> · <a href="/manager/boot">Boot settings</a> · <a href="/manager/metrics">Prometheus metrics</a> · <a href="#/diagnostics">Diagnostics</a>
      </p>
    </section>
  );
}
