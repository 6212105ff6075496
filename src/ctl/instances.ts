// `ap ctl instance …`: the admin API's instance resources from the command line.
// Flags become the request body; a password given as "-" is read from stdin,
// so it need not appear in the process list.
import { UsageError } from '../errors';
import type { InstanceView } from '../instances';
import type { JobView } from '../jobs';
import { parseBytes } from '../config';
import { INSTANCE_SWITCHES, INSTANCE_VALUE_FLAGS } from '../cli';

const ALLOWED: Record<string, readonly string[]> = {
  list: [],
  show: [],
  start: [],
  stop: [],
  create: ['service', 'path', 'password', 'db-name', 'db-user', 'db-password', 'external-host', 'external-db', 'external-user', 'external-password', 'trace-flags', 'exclude-from-backup', 'max-body-size', 'stopped', 'adopt-database'],
  edit: ['path', 'password', 'db-password', 'external-host', 'external-db', 'external-user', 'external-password', 'trace-flags', 'exclude-from-backup', 'max-body-size', 'new-password', 'new-db-password'],
  delete: ['drop-database'],
  cleanup: ['no-wait'],
};

export interface ApiCall {
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly body?: unknown;
}

/** Turns `ap ctl instance <sub> [id] --flags` into API calls, run in order (the last one's answer is shown); UsageError on misuse. */
export async function instanceCalls(sub: string | undefined, id: string | undefined, flags: Readonly<Record<string, string>>, switches: ReadonlySet<string>, stdin: () => Promise<string>): Promise<ApiCall[]> {
  return [await instanceCall(sub, id, flags, switches, stdin)].flat();
}

async function instanceCall(sub: string | undefined, id: string | undefined, flags: Readonly<Record<string, string>>, switches: ReadonlySet<string>, stdin: () => Promise<string>): Promise<ApiCall | ApiCall[]> {
  if (sub === undefined || !Object.hasOwn(ALLOWED, sub)) throw new UsageError(`ap ctl instance needs one of: ${Object.keys(ALLOWED).join(', ')}`);
  const allowed = ALLOWED[sub]!;
  for (const name of [...Object.keys(flags).filter((f) => (INSTANCE_VALUE_FLAGS as readonly string[]).includes(f)), ...switches]) {
    if (!(INSTANCE_SWITCHES as readonly string[]).includes(name) && !(INSTANCE_VALUE_FLAGS as readonly string[]).includes(name)) continue;
    if (!allowed.includes(name)) throw new UsageError(`--${name} does not go with "ap ctl instance ${sub}"`);
  }
  if (sub === 'list') return { method: 'GET', path: '/instances' };
  if (id === undefined) throw new UsageError(`ap ctl instance ${sub} needs an instance: name@domain`);
  const path = `/instances/${encodeURIComponent(id)}`;
  switch (sub) {
    case 'show':
      return { method: 'GET', path };
    case 'start':
    case 'stop':
      return { method: 'POST', path: `${path}/${sub}`, ...(sub === 'start' && switches.has('force') ? { body: { force: true } } : {}) };
    case 'delete':
      return { method: 'DELETE', path, query: switches.has('drop-database') ? { dropDatabase: 'true' } : {} };
    case 'cleanup':
      return { method: 'POST', path: `${path}/cleanup` };
    case 'create': {
      const at = id.lastIndexOf('@');
      if (at <= 0) throw new UsageError(`"${id}" is not name@domain`);
      if (flags.service === undefined) throw new UsageError('ap ctl instance create needs --service');
      const body: Record<string, unknown> = { service: flags.service, name: id.slice(0, at), domain: id.slice(at + 1), ...(await common(flags, stdin)) };
      if (flags['db-name'] !== undefined) body.dbName = flags['db-name'];
      if (flags['db-user'] !== undefined) body.dbUser = flags['db-user'];
      if (switches.has('stopped')) body.wanted = 'stopped';
      if (switches.has('force')) body.force = true;
      return { method: 'POST', path: '/instances', query: switches.has('adopt-database') ? { adoptDatabase: 'true' } : {}, body };
    }
    case 'edit': {
      const body = await common(flags, stdin);
      if (switches.has('new-password') && body.password !== undefined) throw new UsageError('give --password or --new-password, not both');
      if (switches.has('new-db-password') && body.dbPassword !== undefined) throw new UsageError('give --db-password or --new-db-password, not both');
      // Regenerations are their own resources; an edit with only those is just them.
      const calls: ApiCall[] = [];
      if (switches.has('new-password')) calls.push({ method: 'POST', path: `${path}/password`, body: {} });
      if (switches.has('new-db-password')) calls.push({ method: 'POST', path: `${path}/db-password`, body: {} });
      if (Object.keys(body).length > 0 || calls.length === 0) calls.unshift({ method: 'PATCH', path, body });
      // The last call shows the instance as it ends up.
      if (calls.at(-1)!.path.endsWith('/db-password')) calls.push({ method: 'GET', path });
      return calls;
    }
  }
  throw new UsageError(`unknown instance command ${sub}`);
}

/** Fields create and edit share. */
async function common(flags: Readonly<Record<string, string>>, stdin: () => Promise<string>): Promise<Record<string, unknown>> {
  const body: Record<string, unknown> = {};
  const secret = async (name: string) => (flags[name] === '-' ? stdin() : flags[name]);
  if (flags.path !== undefined) body.path = flags.path;
  if (flags.password !== undefined) body.password = await secret('password');
  if (flags['db-password'] !== undefined) body.dbPassword = await secret('db-password');
  if (flags['trace-flags'] !== undefined) body.traceFlags = traceFlags(flags['trace-flags']);
  if (flags['exclude-from-backup'] !== undefined) {
    const v = flags['exclude-from-backup'];
    if (v !== 'true' && v !== 'false') throw new UsageError('--exclude-from-backup takes true or false');
    body.excludeFromBackup = v === 'true';
  }
  if (flags['max-body-size'] !== undefined) body.maxBodyBytes = flags['max-body-size'] === 'default' ? null : parseBytes(flags['max-body-size']);
  const external = ['external-host', 'external-db', 'external-user', 'external-password'].filter((f) => flags[f] !== undefined);
  if (external.length > 0) {
    if (flags['external-host'] === '' || flags['external-host'] === 'none') {
      if (external.length > 1) throw new UsageError('--external-host none clears the external database; give no other --external-… flag');
      body.external = null;
    } else {
      const missing = ['external-host', 'external-db', 'external-user', 'external-password'].filter((f) => flags[f] === undefined);
      if (missing.length > 0) throw new UsageError(`an external database needs ${missing.map((f) => `--${f}`).join(', ')} too`);
      body.external = { host: flags['external-host'], name: flags['external-db'], user: flags['external-user'], password: await secret('external-password') };
    }
  }
  return body;
}

/** "App,App WebSocket" or 0x8001 or 32769. */
function traceFlags(value: string): number | string[] {
  if (/^0x[0-9a-f]+$/i.test(value)) return Number.parseInt(value.slice(2), 16);
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function formatInstanceList(result: { instances: InstanceView[] }): string {
  if (result.instances.length === 0) return 'no instances';
  const rows = result.instances.map((i) => [i.id, i.service, i.state, i.path, size(i.database.sizeBytes)]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length), ['INSTANCE', 'SERVICE', 'STATE', 'PATH'][c]!.length));
  const line = (r: string[]) => r.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]!) : cell)).join('  ');
  return [line(['INSTANCE', 'SERVICE', 'STATE', 'PATH', 'DATABASE']), ...rows.map(line)].join('\n');
}

export function formatInstance(i: InstanceView): string {
  return [
    `instance:   ${i.id} (${i.service})`,
    `state:      ${i.state}${i.phase === 'ready' ? ` (wanted: ${i.wanted})` : ''}`,
    `path:       ${i.path}`,
    `password:   ${i.password}`,
    `database:   "${i.database.name}", user "${i.database.user}"${i.database.sizeBytes ? `, ${size(i.database.sizeBytes)}` : ''}`,
    `external:   ${i.external ? `"${i.external.name}" at ${i.external.host} as "${i.external.user}" (the local database is not used)` : 'no'}`,
    `trace:      0x${i.traceFlags.toString(16)} (${i.traceFlagNames.join(', ') || 'none'})`,
    `backup:     ${i.excludeFromBackup ? 'excluded' : 'included'}`,
    `body limit: ${i.maxBodyBytes === null ? 'the server default' : `${i.maxBodyBytes} bytes`}`,
  ].join('\n');
}

function size(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '-';
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

export function formatJob(job: JobView & { note?: string }): string {
  const head = job.state === 'running' ? `job ${job.id} running: ${job.message}` : `job ${job.id} ${job.state}: ${job.message}`;
  return job.note ? `${head}\n(${job.note})` : head;
}
