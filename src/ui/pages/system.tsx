// The System page: charts of the box's metrics (the fixed ones, then one per
// partition, instance database, instance WebSockets and service CPU).
import { Chart, type Format } from '../components/chart';
import { ErrorText } from '../components/errors';
import { MB } from '../format';
import { useFetch } from '../hooks/fetch';
import type { Series } from '../types';

type ChartSpec = [title: string, name: string, labels: Record<string, string>, format: Format];

const CHARTS: ChartSpec[] = [
  ['CPU', 'ap_cpu_percent', {}, (v) => `${v.toFixed(0)} %`],
  ['Supervisor memory', 'ap_memory_bytes', { what: 'supervisor' }, (v) => `${(v / 1048576).toFixed(1)} MB`],
  ['Data partition (p2) used', 'ap_disk_used_bytes', { partition: 'p2' }, (v) => `${(v / 1048576).toFixed(0)} MB`],
  ['WebSockets', 'ap_websockets_open', {}, (v) => String(v)],
];

/** The series to chart: the fixed ones, then those the box has. */
function chartList(series: readonly Series[]): ChartSpec[] {
  const out = [...CHARTS];
  for (const s of series) {
    if (s.name === 'ap_disk_used_bytes' && s.labels.partition !== 'p2') out.push([`Partition ${s.labels.partition} used`, s.name, s.labels, MB]);
    if (s.name === 'ap_instance_database_bytes') out.push([`Database of ${s.labels.instance}`, s.name, s.labels, MB]);
    if (s.name === 'ap_instance_websockets_open') out.push([`WebSockets of ${s.labels.instance}`, s.name, s.labels, String]);
    if (s.name === 'ap_service_cpu_percent') out.push([`CPU of ${s.labels.service}`, s.name, s.labels, (v) => `${v.toFixed(0)} %`]);
  }
  return out;
}

export function SystemPage() {
  const { data, error } = useFetch<{ series: Series[] }>('/metrics');
  return (
    <section>
      <h1>System</h1>
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
