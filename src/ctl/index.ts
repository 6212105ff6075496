// `ap ctl`: the command line's client of the admin socket, for scripts and
// technicians: every command is one or more calls of the API's routes (the
// socket's only command is `api`), the local-only ones included. Prints
// people's text, or JSON with --json.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { adminRequest } from '../admin';
import { CTL_USAGE, ctlGroupHelp } from '../cli';
import { loadConfig } from '../config';
import { ApError, UsageError } from '../errors';
import { readNewPassword } from './prompt';
import { layout } from '../paths';
import type { BudgetView } from '../budget';
import type { Status } from '../supervisor';
import { backupCall, decryptBackup, keyImportCall } from './backup';
import { bootCommand, requestFsck, resetLabel } from './update';
import { formatLimits, formatService, formatStoreList, serviceCalls, storeCall, systemCall, uninstallQuery } from './services';
import type { LimitsView } from '../services';
import { formatInstance, formatInstanceList, formatJob, instanceCalls, type ApiCall } from './instances';
import { formatReplication, formatStandby, replicationCall } from './replication';
import { tokenCommand } from './tokens';

type Env = Readonly<Record<string, string | undefined>>;

export interface CtlIo {
  out(text: string): void;
}

export interface CtlArgs {
  readonly words: readonly string[];
  readonly flags: Readonly<Record<string, string>>;
  readonly switches?: ReadonlySet<string>;
  /** Reads a secret given as "-" (default: the first line of stdin). */
  readonly stdin?: () => Promise<string>;
  /** Reads a setting given as "-" (default: all of stdin). */
  readonly stdinText?: () => Promise<string>;
  readonly json: boolean;
  readonly env: Env;
  readonly cwd: string;
}

/**
 * An error answer of the API: thrown by the one place that reads answers, with
 * the API's code and message (`ap: …`, exit status of its code), and the body
 * as it came (with --json it is printed as is, `field` and all, exit status 1).
 */
class ApiFailure extends ApError {
  constructor(
    readonly body: unknown,
    status: number,
  ) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error ?? {};
    super('ERROR', error.message ?? `failed with status ${status}`);
    (this as { code: string }).code = error.code ?? 'ERROR';
  }
}

/** Runs one ctl command against the supervisor of the configured root; resolves with the exit status. */
export async function ctl(args: CtlArgs, io: CtlIo): Promise<number> {
  try {
    return await run(args, io);
  } catch (err) {
    if (!(err instanceof ApiFailure) || !args.json) throw err;
    io.out(JSON.stringify(err.body, null, 2));
    return 1;
  }
}

async function run(args: CtlArgs, io: CtlIo): Promise<number> {
  const { words, flags, json, env, cwd } = args;
  const switches = args.switches ?? new Set<string>();
  const timeout = flags.timeout ?? '60';
  if (!/^\d{1,4}$/.test(timeout) || Number(timeout) < 1) throw new UsageError(`invalid value "${timeout}" for --timeout: expected whole seconds`);
  // Only where the root is matters to ctl; the rest of the config is the server's.
  const where = Object.fromEntries(Object.entries(flags).filter(([name]) => name === 'root' || name === 'board'));
  const socket = layout(loadConfig({ flags: where, env, cwd }).root).adminSocket;
  /** One API route over the admin socket (its only command); an error answer throws ApiFailure. */
  const answer = async <T>(c: ApiCall): Promise<{ status: number; body: T }> => {
    const got = (await adminRequest(socket, 'api', { ...c }, Number(timeout) * 1000)) as { status: number; body: unknown };
    if (got.status >= 400) throw new ApiFailure(got.body, got.status);
    return got as { status: number; body: T };
  };
  // `any` unless said: an answer is shaped by its route, and each use names what it reads.
  const call = async <T = any>(method: string, path: string, body?: unknown, query?: Record<string, string>): Promise<T> => (await answer<T>({ method, path, body, ...(query ? { query } : {}) })).body;
  const [command, sub, arg] = words;
  if (command === undefined) throw new UsageError(`ap ctl needs a command\n\n${CTL_USAGE}`);
  if (words.length > 3 && command !== 'setting' && !(command === 'replication' && sub === 'standby') && !(command === 'backup' && sub === 'decrypt')) throw new UsageError(`unexpected argument "${words[3]}"\n\n${CTL_USAGE}`);
  const print = (value: unknown, text: (v: never) => string) => io.out(json ? JSON.stringify(value, null, 2) : text(value as never));
  const needArg = (what: string) => {
    if (arg === undefined) throw new UsageError(`ap ctl ${command} ${sub} needs ${what}\n\n${CTL_USAGE}`);
    return arg;
  };
  /** Polls a job until it ends (unless told not to wait); status 1 when it failed. */
  const followJob = async (job: { id: string; state: string }, noWait: boolean): Promise<number> => {
    let current = job as { id: string; state: string; message: string; progress: { done: number; note: string } };
    while (!noWait && current.state === 'running') {
      await new Promise((r) => setTimeout(r, 300));
      current = await call('GET', `/jobs/${current.id}`);
    }
    print({ ...job, ...current }, formatJob);
    return current.state === 'failed' ? 1 : 0;
  };
  if (command === 'backup' && sub === 'decrypt') {
    // Offline: no supervisor needed, only the file and its key.
    if (arg === undefined || words[3] === undefined) throw new UsageError(`ap ctl backup decrypt needs the encrypted file and the file to write\n\n${CTL_USAGE}`);
    const done = await decryptBackup({
      input: resolve(cwd, arg),
      output: resolve(cwd, words[3]),
      ...(flags['key-file'] !== undefined ? { keyFile: resolve(cwd, flags['key-file']) } : {}),
      ...(switches.has('key-stdin') ? { keyStdin: args.stdinText ?? readStdinText } : {}),
      boxKeyFile: layout(loadConfig({ flags: where, env, cwd }).root).backupKey,
      force: switches.has('force'),
    });
    print(done, (d: { output: string; bytes: number }) => `decrypted: ${d.output} (${d.bytes} bytes), a plain backup file (pg_restore --list reads it)`);
    return 0;
  }
  if (command === 'backup' && sub === 'key') {
    const c = arg === 'import' ? await keyImportCall(flags, cwd, args.stdinText ?? readStdinText) : backupCall(command, sub, arg, flags, switches, cwd);
    const body = (await answer<{ set?: boolean; fingerprint: string | null; key?: string }>(c)).body;
    // The key alone on stdout, so that `export > file` keeps it as it is.
    if (arg === 'export') print(body, (b: { key: string }) => b.key);
    else print(body, (b: { set: boolean; fingerprint: string | null }) => (b.set ? `backup key ${b.fingerprint}: backups are written encrypted${arg === 'generate' ? '\nexport it and keep it safe away from the box (ap ctl backup key export): without it no backup written with it can be read' : ''}` : 'no backup key: backups are written unencrypted'));
    return 0;
  }
  if (command === 'backup' || command === 'restore') {
    const done = await answer<Record<string, unknown>>(backupCall(command, sub, arg, flags, switches, cwd));
    if (done.status === 202) return followJob(done.body as { id: string; state: string }, switches.has('no-wait'));
    print(done.body, (b: Record<string, unknown>) => JSON.stringify(b, null, 2));
    return 0;
  }
  if (command === 'service') {
    const calls = serviceCalls(sub, arg, flags, switches);
    if (calls) {
      const bodies: unknown[] = [];
      for (const c of calls) bodies.push((await answer(c)).body);
      if (sub === 'show') print({ ...(bodies[0] as object), crashes: (bodies[1] as { crashes: unknown[] }).crashes }, formatService);
      else if (sub === 'restart') print(bodies[0], (r: { name: string; state: string; warning?: string }) => `${r.name}: ${r.state}${warned(r)}`);
      else if (sub === 'limits') print(bodies[0], (l: LimitsView) => `${arg}: ${formatLimits(l)}`);
      // The log as it is: no decoration, so it pipes into grep and less.
      else print(bodies[0], (r: { text: string; size: number }) => (r.size === 0 ? `(service ${arg} has written no log yet)` : r.text.replace(/\n$/, '')));
      return 0;
    }
  }
  if (command === 'store') {
    const body = (await answer(storeCall(sub, arg, flags, switches.has('force')))).body;
    if (sub === 'install') return followJob(body as { id: string; state: string }, switches.has('no-wait'));
    print(body, formatStoreList);
    return 0;
  }
  if (command === 'replication') {
    const c = replicationCall(sub, arg, switches, words[3], flags.password);
    const body = (await answer(c)).body;
    if (sub === 'add') print(body, (s: Parameters<typeof formatStandby>[0]) => `standby added; give the standby this password as it is:\n${formatStandby(s)}`);
    else if (sub === 'remove') print(body, (r: { removed: string }) => `standby ${r.removed} removed, with its role and slot`);
    else print(body, formatReplication);
    return 0;
  }
  if (command === 'token') {
    const done = await tokenCommand(sub, arg, flags, call);
    print(done.value, () => done.text);
    return 0;
  }
  if (command === 'cert' && sub === 'show') {
    print(await call('GET', '/certificate'), (c: { subject: string; issuer: string; validTo: string; custom: boolean; fingerprint256: string }) =>
      [`subject:  ${c.subject}`, `issuer:   ${c.issuer}`, `valid to: ${c.validTo}`, `source:   ${c.custom ? 'uploaded' : 'self-signed by the App Platform'}`, `sha256:   ${c.fingerprint256}`].join('\n'),
    );
    return 0;
  }
  if (command === 'system' && sub === 'budget') {
    print(await call('GET', '/system/budget'), formatBudget);
    return 0;
  }
  if (command === 'system') {
    print((await answer(systemCall(sub, switches))).body, (b: { restarting?: boolean; shuttingDown?: boolean }) =>
      b.restarting === true ? 'restarting…' : b.shuttingDown === true ? 'shutting down…' : `this board has no ${sub} command configured: nothing happens`,
    );
    return 0;
  }
  if (command === 'diagnostics' && sub === undefined) {
    print(await call('GET', '/diagnostics'), (b: unknown) => JSON.stringify(b, null, 2));
    return 0;
  }
  if (command === 'password' && words.length <= 2) {
    // Root sets the Manager password without the old one (a forgotten password); every session ends.
    const given = sub === '-' ? await (args.stdin ?? readStdinLine)() : sub === undefined ? await (args.stdin ?? (() => readNewPassword('Manager password')))() : sub;
    print(await call('POST', '/password/reset', { password: given }), () => 'the Manager password is set; every Manager session has ended');
    return 0;
  }
  if (command === 'linux-password' && sub !== undefined) {
    const given = arg === '-' ? await (args.stdin ?? readStdinLine)() : arg === undefined ? await (args.stdin ?? (() => readNewPassword(`Linux password of ${sub}`)))() : arg;
    print(await call('PUT', `/system/linux-users/${encodeURIComponent(sub)}/password`, { password: given }), () => `the Linux password of ${sub} is set`);
    return 0;
  }
  if (command === 'db' && (sub === undefined || sub === 'start')) {
    print(await call(sub === 'start' ? 'POST' : 'GET', sub === 'start' ? '/database/start' : '/database'), (d: { mode: string; state: string }) => `database: ${d.mode}, ${formatDatabase(d)}`);
    return 0;
  }
  if (command === 'alarms' && sub === undefined) {
    print(await call('GET', '/alarms'), (b: { active: { id: number; severity: string; source: string; code: string; raisedAt: string; text: string; todo?: string; acknowledgedAt?: string }[] }) =>
      b.active.length === 0
        ? 'no active alarms'
        : b.active
            .map((a) => `${a.severity.toUpperCase().padEnd(9)}${a.raisedAt}  #${a.id} ${a.source} ${a.code}: ${a.text}${a.acknowledgedAt ? ` (acknowledged ${a.acknowledgedAt})` : ''}${a.todo ? `\n         what to do: ${a.todo}` : ''}`)
            .join('\n'),
    );
    return 0;
  }
  if (command === 'alarms' && sub === 'ack') {
    if (arg === undefined) throw new UsageError('usage: ap ctl alarms ack <id> (the #id ap ctl alarms shows)');
    print(await call('POST', `/alarms/${encodeURIComponent(arg)}/acknowledge`, {}), (a: { id: number; code: string }) => `alarm #${a.id} ${a.code} acknowledged: it stays active until its cause is gone`);
    return 0;
  }
  if (command === 'metrics' && sub === undefined) {
    print(await call('GET', '/metrics'), (b: { series: { name: string; labels: Record<string, string>; value: number }[] }) =>
      b.series
        .map((m) => `${m.name}${Object.keys(m.labels).length ? `{${Object.entries(m.labels).map(([k, v]) => `${k}=${v}`).join(',')}}` : ''} ${Number.isInteger(m.value) ? m.value : m.value.toFixed(2)}`)
        .sort()
        .join('\n'),
    );
    return 0;
  }
  if (command === 'mail' && sub === 'test') {
    print(await call('POST', '/mail/test', arg === undefined ? {} : { to: arg }), (b: { reply: string }) => `test mail sent: ${b.reply}`);
    return 0;
  }
  if (command === 'boot') {
    const board = loadConfig({ flags: where, env, cwd }).board;
    print(await bootCommand(board, layout(loadConfig({ flags: where, env, cwd }).root).boot, sub), (b: { mode: string; kind: string; kernelCommandLine: string; initrdFile: string; ramdiskSize: string; file: string }) =>
      [`next boot:           ${b.mode} (${b.kind}, ${b.file})`, `Kernel command line: ${b.kernelCommandLine}`, `Initrd file:         ${b.initrdFile}`, `Ramdisk size:        ${b.ramdiskSize}`].join('\n'),
    );
    return 0;
  }
  if (command === 'fsck' && sub === undefined) {
    const config = loadConfig({ flags: where, env, cwd });
    print(await requestFsck(config.board, layout(config.root).boot), (r: { next: string }) => `file system check requested; ${r.next}`);
    return 0;
  }
  if (command === 'update' && sub === 'reset-label') {
    const label = await resetLabel(layout(loadConfig({ flags: where, env, cwd }).root).boot, arg);
    print({ label }, () => `label set to ${label}: any image counts as newer now`);
    return 0;
  }
  if (command === 'update') {
    if (sub === undefined || sub === 'check') {
      print(await call('GET', '/update'), (b: { running: string | null; available: string | null; error?: string; journal: { step: string; label: string }[] }) =>
        [`running:   ${b.running ?? 'unknown'}`, `available: ${b.available ?? (b.error ? `? (${b.error})` : 'none')}`, ...(b.journal.length ? [`journal:   ${b.journal.map((e) => `${e.step} ${e.label}`).join(', ')}`] : [])].join('\n'),
      );
      return 0;
    }
    if (sub === 'run') {
      const job = await call('POST', '/update', { ...(flags.label ? { label: flags.label } : {}), ...(switches.has('force') ? { force: true } : {}) });
      return followJob(job, switches.has('no-wait'));
    }
    throw new UsageError(`ap ctl update [check] | run [--label L] [--force] | reset-label [LABEL]\n\n${CTL_USAGE}`);
  }
  if (command === 'manager') {
    if (sub === undefined || sub === 'check') {
      print(await call('GET', '/supervisor/update'), (b: { version: string; build: string | null; available: string | null; refused: string | null; failed: string | null; error?: string }) =>
        [
          `running:   ${b.version} (build ${b.build ?? 'none: not a package'})`,
          `available: ${b.available ?? (b.error ? `? (${b.error})` : 'none')}`,
          ...(b.refused ? [`updates:   refused: ${b.refused}`] : []),
          ...(b.failed ? [`failed:    ${b.failed}`] : []),
        ].join('\n'),
      );
      return 0;
    }
    if (sub === 'update') {
      const job = await call<{ id: string; state: string }>('POST', '/supervisor/update', { ...(flags.build ? { build: flags.build } : {}), ...(switches.has('force') ? { force: true } : {}) });
      try {
        return await followJob(job, switches.has('no-wait'));
      } catch (err) {
        // Staged: the supervisor stops to hand over, and its admin socket goes first.
        if (!(err instanceof ApError) || (err.code !== 'ADMIN_UNREACHABLE' && err.code !== 'NOT_RUNNING')) throw err;
        print({ ...job, state: 'succeeded', message: 'staged; the supervisor is restarting into the new build' }, () => 'staged; the supervisor is restarting into the new build (ap ctl manager check once it answers again)');
        return 0;
      }
    }
    throw new UsageError(`ap ctl manager [check] | update [--build N] [--force] [--no-wait]\n\n${CTL_USAGE}`);
  }
  if (command === 'jobs') {
    if (sub === undefined) {
      print(await call('GET', '/jobs'), (b: { jobs: { id: string; kind: string; target: string; state: string; startedAt: string; message: string }[] }) =>
        b.jobs.length === 0 ? 'no jobs yet' : b.jobs.map((j) => `${j.id.padStart(4)}  ${j.kind.padEnd(8)} ${j.state.padEnd(9)} ${j.startedAt}  ${j.message}`).join('\n'),
      );
    } else print(await call('GET', `/jobs/${encodeURIComponent(sub)}`), formatJob);
    return 0;
  }
  if (command === 'analyse') {
    if (sub !== undefined && sub !== 'run') throw new UsageError(`ap ctl analyse [run]\n\n${CTL_USAGE}`);
    if (sub === 'run') return followJob(await call('POST', '/maintenance/analyse'), switches.has('no-wait'));
    print(await call('GET', '/maintenance/analyse'), formatAnalyse);
    return 0;
  }
  if (command === 'setting') {
    const [, , name, value] = [command, sub, arg, words[3]];
    if (sub === 'list' && name === undefined) {
      print(await call('GET', '/settings'), (b: { settings: Record<string, { label: string; value: string; isDefault: boolean }> }) =>
        Object.entries(b.settings)
          .map(([n, s]) => `${n.padEnd(20)} ${s.value}${s.isDefault ? ' (default)' : ''}   ${s.label}`)
          .join('\n'),
      );
      return 0;
    }
    if (sub === 'set' && name !== undefined && value !== undefined) {
      const text = value === '-' ? await (args.stdinText ?? readStdinText)() : value;
      print(await call('PUT', `/settings/${encodeURIComponent(name)}`, { value: text }), (b: { name: string; value: string }) => `${b.name} = ${b.value}`);
      return 0;
    }
    throw new UsageError(`ap ctl setting list | ap ctl setting set NAME VALUE\n\n${CTL_USAGE}`);
  }
  if (command === 'instance') {
    let body: unknown = null;
    for (const c of await instanceCalls(sub, arg, flags, switches, args.stdin ?? readStdinLine)) body = (await answer(c)).body;
    if (sub === 'cleanup') return followJob(body as { id: string; state: string }, switches.has('no-wait'));
    if (sub === 'list') print(body, formatInstanceList);
    else if (sub === 'delete') print(body, (r: { deleted: string; databaseDropped: boolean }) => `deleted ${r.deleted}${r.databaseDropped ? ' with its database and user' : ' (its database and user are kept)'}`);
    else print(body, (i: Parameters<typeof formatInstance>[0] & { warning?: string }) => `${formatInstance(i)}${warned(i)}`);
    return 0;
  }
  switch (`${command ?? ''} ${sub ?? ''}`.trim()) {
    case 'status':
      if (sub !== undefined) break;
      print(await call('GET', '/status'), formatStatus);
      return 0;
    case 'debug gc':
      print(await call('POST', '/debug/gc', {}), (m: Status['memory']) => `after a full GC: ${mb(m.rss)} RSS, ${mb(m.heapUsed)} heap in use`);
      return 0;
    case 'service list':
      print((await call<{ services: unknown[] }>('GET', '/services')).services, formatServices);
      return 0;
    case 'service install': {
      const manifest = await call('POST', '/services/install', { dir: resolve(cwd, needArg('a folder or a .tar.gz')), wait: !switches.has('no-wait'), ...(switches.has('force') ? { force: true } : {}) });
      print(manifest, (m: { name: string; version: string; warning?: string }) => `installed ${m.name} ${m.version}${warned(m)}`);
      return 0;
    }
    case 'service uninstall':
      return followJob(await call('DELETE', `/services/${encodeURIComponent(needArg('a service name'))}`, undefined, uninstallQuery(switches)), switches.has('no-wait'));
    case 'service start':
    case 'service stop': {
      const result = await call('POST', `/services/${encodeURIComponent(needArg('a service name'))}/${sub}`, sub === 'start' && switches.has('force') ? { force: true } : {});
      print(result, (r: { name: string; state: string; warning?: string }) => `${r.name}: ${r.state}${warned(r)}`);
      return 0;
    }
    case 'cert install': {
      const file = resolve(cwd, needArg('a PEM file'));
      const pem = await readFile(file, 'utf8').catch((err: Error) => {
        throw new UsageError(`cannot read ${file}: ${err.message}`);
      });
      const chain = await call('PUT', '/certificate', { pem });
      print(chain, (c: { subject: string; validTo: string }) => `installed the certificate for ${c.subject.replace(/\n/g, ', ')}, valid until ${c.validTo}`);
      return 0;
    }
  }
  throw new UsageError(`unknown ctl command "${words.join(' ')}"\n\n${ctlGroupHelp(command) ?? CTL_USAGE}`);
}

function formatStatus(s: Status): string {
  return [
    `state:    ${s.state} (pid ${s.pid}, up ${s.uptimeSeconds} s)`,
    `version:  ${s.version} (build ${s.label})`,
    `board:    ${s.board}`,
    `root:     ${s.root}`,
    `apps:     ${s.http.port === null ? 'not listening' : `${s.http.host} port ${s.http.port}`}${s.http.httpsPort === null ? '' : `, https port ${s.http.httpsPort}`}`,
    `manager:  ${s.http.managerPort === null ? 'not listening' : `${s.http.host} port ${s.http.managerPort}`}${s.http.managerHttpsPort === null ? '' : `, https port ${s.http.managerHttpsPort}`}`,
    `database: ${s.db.mode}, socket ${s.db.socketDir}, schema ${s.db.schemaVersion ?? '-'}`,
    `          ${formatDatabase(s.db)}`,
    `reserve:  ${s.reserve ?? '-'}`,
    ...(s.updateFailed ? [`update:   FAILED: ${s.updateFailed} (alarm MANAGER_UPDATE_FAILED)`] : []),
    `memory:   ${mb(s.memory.rss)} RSS, ${mb(s.memory.heapUsed)} of ${mb(s.memory.heapTotal)} heap, ${mb(s.memory.external)} external`,
    `services: ${s.services.length === 0 ? 'none' : s.services.map((x) => `${x.name} (${x.state})`).join(', ')}`,
  ].join('\n');
}

function formatDatabase(d: { state?: string; downSince?: string | null; restarts?: number; pid?: number | null; reason?: string | null }): string {
  if (d.state === undefined) return 'opening';
  const restarts = d.restarts ? `, ${d.restarts} restart${d.restarts === 1 ? '' : 's'}` : '';
  if (d.state === 'up') return `up${d.pid ? ` (pid ${d.pid})` : ''}${restarts}`;
  return `${d.state === 'given-up' ? 'GIVEN UP' : d.state.toUpperCase()}, down since ${d.downSince ?? '?'}${restarts}: ${d.reason ?? ''}`;
}

/** A forced admission's warning, on a line of its own. */
function warned(answer: { warning?: string }): string {
  return answer.warning ? `\nWARNING: ${answer.warning}` : '';
}

function formatBudget(b: BudgetView): string {
  const MB = (bytes: number) => `${Math.round(bytes / 1048576)} MB`.padStart(9);
  const from = { flag: '--memory-budget-mb', board: "the board's ramMB", meminfo: 'MemTotal' }[b.totalFrom];
  const pg = b.postgres;
  const lines = [
    `total        ${MB(b.totalBytes)}  (${from})`,
    `kernel       ${MB(b.kernel.bytes)}  (${Object.keys(b.kernel.fields).join(', ')}${b.kernel.reservedBytes ? `, ${Math.round(b.kernel.reservedBytes / 1048576)} MB before MemTotal` : ''})`,
    `supervisor   ${MB(b.supervisor.bytes)}  (PSS of ${b.supervisor.pids.length} process${b.supervisor.pids.length === 1 ? '' : 'es'})`,
    `PostgreSQL   ${MB(pg.bytes)}  (${pg.pids.length} processes; ${pg.connections} connections, ${pg.ownConnections} of them the supervisor's, ~${Math.round(pg.perConnectionBytes / 1048576)} MB each${pg.perConnectionMeasured ? '' : ' (default: none measured)'})`,
    ...b.services.map((s) => `  ${s.name.padEnd(10)} ${MB(s.reservedBytes)}  (${s.state}; declared ${s.memoryMB} + ${s.instanceMB} × ${s.instances} instances; using ${s.usageBytes === null ? '-' : `${Math.round(s.usageBytes / 1048576)} MB`})`),
    `services     ${MB(b.servicesBytes)}`,
    `free         ${MB(b.freeBytes)}`,
  ];
  return lines.join('\n');
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function formatServices(list: { name: string; version: string; state: string; pid: number | null; reason: string | null }[]): string {
  if (list.length === 0) return 'no services installed';
  return list.map((s) => `${s.name.padEnd(20)} ${s.version.padEnd(10)} ${s.state}${s.pid ? ` (pid ${s.pid})` : ''}${s.reason ? `: ${s.reason}` : ''}`).join('\n');
}

/** The first line of stdin (a password given as "-"). */
async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0] ?? '';
}

function formatAnalyse(a: { hour: number; timeZone: string; running: boolean; nextAt: string | null; lastRunAt: string | null; lastResult: string | null; lastOk: boolean | null }): string {
  return [
    `schedule:  daily from ${String(a.hour).padStart(2, '0')}:00 ${a.timeZone}, plus a random offset of up to 7 hours`,
    `next run:  ${a.running ? 'running now' : (a.nextAt ?? 'tomorrow (today is done)')}`,
    `last run:  ${a.lastRunAt ? `${a.lastRunAt}: ${a.lastOk ? '' : 'FAILED: '}${a.lastResult}` : 'never'}`,
  ].join('\n');
}

/** All of stdin (a setting such as the command file given as "-"). */
async function readStdinText(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}
