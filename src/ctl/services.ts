// `ap ctl service show|restart|log`, `cert show`, `system restart|shutdown`,
// `diagnostics`: the rest of what the Manager does for services and the box,
// as admin API calls (one table serves both), formatted for people.
import { UsageError } from '../errors';
import type { CrashRecord, LimitsView, ServiceView } from '../services';
import type { StoreList } from '../store';

export interface Call {
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly body?: unknown;
}

const svc = (name: string) => `/services/${encodeURIComponent(name)}`;

/** The API calls of a `service` subcommand this module handles, or null for the others (list, install, start, stop). */
export function serviceCalls(sub: string | undefined, name: string | undefined, flags: Readonly<Record<string, string>>, switches: ReadonlySet<string> = new Set()): Call[] | null {
  if (sub !== 'show' && sub !== 'restart' && sub !== 'log' && sub !== 'limits') return null;
  if (name === undefined) throw new UsageError(`ap ctl service ${sub} needs a service name`);
  if (sub === 'limits') return [{ method: 'PUT', path: `${svc(name)}/limits`, body: limitsBody(flags, switches) }];
  if (sub === 'show') return [{ method: 'GET', path: svc(name) }, { method: 'GET', path: `${svc(name)}/crashes` }];
  if (sub === 'restart') return [{ method: 'POST', path: `${svc(name)}/restart`, body: switches.has('force') ? { force: true } : {} }];
  return [{ method: 'GET', path: `${svc(name)}/log/tail`, query: flags.bytes === undefined ? {} : { bytes: flags.bytes } }];
}

/** The query of DELETE /services/{name} from `ap ctl service uninstall`'s switches. */
export function uninstallQuery(switches: ReadonlySet<string>): Record<string, string> {
  const query: Record<string, string> = {};
  if (switches.has('instances')) query.instances = 'true';
  if (switches.has('drop-databases')) {
    if (!switches.has('instances')) throw new UsageError('--drop-databases drops the databases of the instances it deletes: it needs --instances');
    query.dropDatabases = 'true';
  }
  if (switches.has('keep-logs')) query.keepLogs = 'true';
  return query;
}

const LIMIT_FLAGS = { memory: 'memoryMB', 'instance-memory': 'instanceMB', 'cpu-weight': 'cpuWeight', pids: 'pids' } as const;

/** The body of PUT /services/{name}/limits from the flags; the server checks the ranges. */
function limitsBody(flags: Readonly<Record<string, string>>, switches: ReadonlySet<string>): Record<string, number | null> {
  const body: Record<string, number | null> = switches.has('default') ? { memoryMB: null, instanceMB: null, cpuWeight: null, pids: null } : {};
  for (const [flag, field] of Object.entries(LIMIT_FLAGS)) {
    const value = flags[flag];
    if (value === undefined) continue;
    if (!/^\d{1,6}$/.test(value)) throw new UsageError(`--${flag} must be a whole number, not "${value}"`);
    body[field] = Number(value);
  }
  if (Object.keys(body).length === 0) throw new UsageError('ap ctl service limits <name> needs --memory MB, --instance-memory MB, --cpu-weight N, --pids N or --default');
  return body;
}

/** One line of the limits in force and where they come from. */
export function formatLimits(l: LimitsView): string {
  const from = (field: keyof LimitsView['source']) => l.source[field];
  return (
    `memory ${l.memoryLimitMB} MB (${l.memoryMB} MB + ${l.instanceMB} MB per instance, from ${from('memoryMB')}/${from('instanceMB')}), ` +
    `cpu weight ${l.cpuWeight} (${from('cpuWeight')}), pids ${l.pids} (${from('pids')})${l.enforced ? '' : ' — not enforced: no cgroup'}`
  );
}

const MB = 1024 * 1024;

export function formatService(s: ServiceView & { crashes?: CrashRecord[] }): string {
  const lines = [
    `service:  ${s.name} ${s.version} (build ${s.label})`,
    `state:    ${s.state}${s.pid ? ` (pid ${s.pid})` : ''}`,
    `restarts: ${s.restarts} since it last ran stably; ${s.deaths} deaths in the restart window`,
    `open:     ${s.streams} requests and WebSockets`,
    `limits:   ${formatLimits(s.limits)}`,
    s.usage
      ? `usage:    memory ${(s.usage.memoryBytes / MB).toFixed(1)} of ${s.limits.memoryLimitMB} MB${s.usage.memoryPeakBytes === null ? '' : ` (peak ${(s.usage.memoryPeakBytes / MB).toFixed(1)})`}, CPU ${s.usage.cpuSeconds.toFixed(1)} s`
      : 'usage:    not counted (no cgroup)',
  ];
  if (s.reason) lines.push(`failure:  ${s.reason}`);
  const last = s.crashes?.[0];
  if (last) {
    const how = last.reason === 'out-of-memory' ? `killed: out of memory (limit ${last.memoryLimitMB} MB)` : last.signal ? `signal ${last.signal}` : `exit code ${last.exitCode}`;
    lines.push(`last crash: ${last.time}, ${how} after ${(last.uptimeMs / 1000).toFixed(1)} s (version ${last.version}); its last lines:`);
    lines.push(...last.lastLines.slice(-10).map((l) => `  ${l}`));
  } else lines.push('crashes:  none recorded');
  return lines.join('\n');
}

/** The system commands: restart and shutdown need --yes (the Manager asks too). */
export function systemCall(sub: string | undefined, switches: ReadonlySet<string>): Call {
  if (sub !== 'restart' && sub !== 'shutdown') throw new UsageError('ap ctl system budget | ap ctl system restart|shutdown --yes');
  if (!switches.has('yes')) throw new UsageError(`ap ctl system ${sub} ${sub === 'restart' ? 'reboots' : 'powers off'} the box: add --yes to mean it`);
  return { method: 'POST', path: `/system/${sub}`, body: { confirm: true } };
}

/** `ap ctl store list | install <id> [--build N]`. */
export function storeCall(sub: string | undefined, id: string | undefined, flags: Readonly<Record<string, string>>, force = false): Call {
  if (sub === 'list' && id === undefined) return { method: 'GET', path: '/store/apps' };
  if (sub === 'install' && id !== undefined) return { method: 'POST', path: `/store/apps/${encodeURIComponent(id)}/install`, body: { ...(flags.build === undefined ? {} : { build: flags.build }), ...(force ? { force: true } : {}) } };
  throw new UsageError('ap ctl store list | ap ctl store install <app id> [--build N] [--force] [--no-wait]');
}

export function formatStoreList(r: StoreList): string {
  if (r.apps.length === 0) return `the App Store at ${r.store} offers no apps${r.skipped.length ? ` (unusable entries: ${r.skipped.join(', ')})` : ''}`;
  const lines = r.apps.map((a) => {
    const newest = a.versions[0]!;
    const here = a.installed ? `installed ${a.installed.version} (${a.installed.label})${a.installed.label === newest.build ? '' : ', update available'}` : 'not installed';
    return `${a.id.padEnd(20)} ${newest.label.padEnd(20)} ${here}   ${a.title}${a.manufacturer ? ` (${a.manufacturer})` : ''}`;
  });
  if (r.skipped.length) lines.push(`unusable entries in apps.json, left out: ${r.skipped.join(', ')}`);
  return lines.join('\n');
}
