// What Prometheus reads beside the sampled series: families computed when
// it asks (states and counts that are exact now, the supervisor process's
// standard process_* metrics, as client libraries name them), so an alert
// can say "a service is down" or "an alarm is active".
import { readdirSync, readFileSync } from 'node:fs';
import { SEVERITIES, type Alarm } from '../alarms';
import type { Family } from './metrics';

export interface LiveSources {
  readonly build: { readonly version: string; readonly label: string; readonly board: string };
  readonly services: () => readonly { readonly name: string; readonly state: string }[];
  /** Instances (name@domain) with their service, whether they run now, and whether they are left out of backups. */
  readonly instances: () => readonly { readonly id: string; readonly service: string; readonly running: boolean; readonly excludeFromBackup: boolean }[];
  readonly alarms: () => readonly Pick<Alarm, 'severity'>[];
  /** Each instance's last backup (src/backup's records). */
  readonly backups: () => readonly { readonly instance: string; readonly result: 'ok' | 'failed'; readonly succeededAt: string | null }[];
}

const CLOCK_TICKS = 100;

/** The families of `sources` now. */
export function liveFamilies(sources: LiveSources, proc = '/proc/self'): Family[] {
  const alarms = sources.alarms();
  const backups = new Map(sources.backups().map((b) => [b.instance, b]));
  const instances = sources.instances();
  return [
    { name: 'ap_build_info', help: 'The supervisor running: its version, build label and board (always 1)', type: 'gauge', samples: [{ labels: sources.build, value: 1 }] },
    {
      name: 'ap_service_up',
      help: 'Whether an app service runs (1) or not (0: starting, backing off, stopped, failed)',
      type: 'gauge',
      samples: sources.services().map((s) => ({ labels: { service: s.name }, value: s.state === 'running' ? 1 : 0 })),
    },
    {
      name: 'ap_instance_up',
      help: 'Whether an app instance (app_instance: name@domain) is served by a running service (1) or not (0)',
      type: 'gauge',
      samples: instances.map((i) => ({ labels: { app_instance: i.id, service: i.service }, value: i.running ? 1 : 0 })),
    },
    {
      name: 'ap_backup_last_success_timestamp_seconds',
      help: 'When the last successful backup of an instance ended, in seconds since 1970; 0 when it never had one (instances excluded from backup are left out)',
      type: 'gauge',
      samples: instances.filter((i) => !i.excludeFromBackup).map((i) => {
        const at = backups.get(i.id)?.succeededAt;
        return { labels: { app_instance: i.id }, value: at ? Date.parse(at) / 1000 : 0 };
      }),
    },
    {
      name: 'ap_backup_last_result',
      help: 'How the last backup of an instance ended: 1 ok, 0 failed (absent before its first backup)',
      type: 'gauge',
      samples: instances.flatMap((i) => {
        const last = backups.get(i.id);
        return last ? [{ labels: { app_instance: i.id }, value: last.result === 'ok' ? 1 : 0 }] : [];
      }),
    },
    {
      name: 'ap_alarms_active',
      help: 'Active alarms by severity',
      type: 'gauge',
      samples: SEVERITIES.map((severity) => ({ labels: { severity }, value: alarms.filter((a) => a.severity === severity).length })),
    },
    ...processFamilies(proc),
  ];
}

/** The standard process_* metrics of this process (/proc/self). */
export function processFamilies(proc = '/proc/self'): Family[] {
  const status = readFileSync(`${proc}/status`, 'latin1');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024;
  const stat = readFileSync(`${proc}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15, starttime 22 (proc(5)); here counted from field 3.
  const user = Number(fields[11]) / CLOCK_TICKS;
  const system = Number(fields[12]) / CLOCK_TICKS;
  const bootTime = Number(/^btime\s+(\d+)/m.exec(readFileSync('/proc/stat', 'latin1'))?.[1] ?? 0);
  const start = bootTime + Number(fields[19]) / CLOCK_TICKS;
  const maxFds = Number(/^Max open files\s+(\d+)/m.exec(readFileSync(`${proc}/limits`, 'latin1'))?.[1] ?? 0);
  const one = (name: string, help: string, type: 'gauge' | 'counter', value: number): Family => ({ name, help, type, samples: [{ labels: {}, value }] });
  return [
    one('process_cpu_user_seconds_total', 'User CPU time of the supervisor process', 'counter', user),
    one('process_cpu_system_seconds_total', 'System CPU time of the supervisor process', 'counter', system),
    one('process_cpu_seconds_total', 'User and system CPU time of the supervisor process', 'counter', user + system),
    one('process_start_time_seconds', 'Start time of the supervisor process since 1970', 'gauge', start),
    one('process_resident_memory_bytes', 'Resident memory of the supervisor process', 'gauge', kb('VmRSS')),
    one('process_virtual_memory_bytes', 'Virtual memory of the supervisor process', 'gauge', kb('VmSize')),
    one('process_heap_bytes', 'Data segment (heap) of the supervisor process', 'gauge', kb('VmData')),
    one('process_open_fds', 'Open file descriptors of the supervisor process', 'gauge', readdirSync(`${proc}/fd`).length),
    one('process_max_fds', 'The most file descriptors the supervisor process may open', 'gauge', maxFds),
  ];
}
