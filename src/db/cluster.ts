// A PostgreSQL cluster the supervisor runs itself ("managed" mode): initdb on
// first start, `postgres` as a child in its own process group (so a Ctrl-C in
// the terminal reaches only the supervisor, which stops the cluster last),
// Unix socket only (TCP only as replication.conf says: src/replication), and a
// clean fast shutdown.
import { spawn, type ChildProcess } from 'node:child_process';
import { chown, mkdir, readFile, readdir, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { userInfo } from 'node:os';
import { ApError } from '../errors';
import { fsyncDir } from '../fsutil';
import type { Logger } from '../log';
import { clusterAccount, type Account } from './binaries';

export interface ClusterOptions {
  readonly dataDir: string;
  readonly socketDir: string;
  readonly port: number;
  readonly bin: string;
  readonly log: Logger;
  /** Extra `-c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
  /** How long the server may take to accept connections (default 120 s: crash recovery can be slow). */
  readonly startTimeoutMs?: number;
}

export interface ClusterExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Cluster {
  /** Stops the cluster: fast shutdown, then immediate, then kill, within `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
  readonly pid: number;
  /** Settles when the postmaster has exited, however (a stop, a crash, a kill). */
  readonly exited: Promise<ClusterExit>;
  /** The last lines the server printed, for a report of its death. */
  tail(): string;
}

/** The superuser the supervisor connects as. */
export const SUPERUSER = 'postgres';

/** Initialises the cluster if needed, starts it and waits until it accepts connections. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const account = clusterAccount();
  await initIfNeeded(options, account);
  await mkdir(options.socketDir, { recursive: true, mode: 0o755 });
  if (account) await chown(options.socketDir, account.uid, account.gid);
  await stopOrphan(options);
  await killOrphanBackends(options);

  const args = ['-D', options.dataDir, '-k', options.socketDir, '-p', String(options.port)];
  // The Unix socket only, unless replication.conf (src/replication, included by
  // postgresql.conf) says where to listen: a flag would win over the file.
  if (!(await exists(join(options.dataDir, 'replication.conf')))) args.push('-c', 'listen_addresses=');
  for (const [name, value] of Object.entries(options.settings ?? {})) args.push('-c', `${name}=${value}`);
  const child = spawn(join(options.bin, 'postgres'), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    // Another account's HOME (root's) would make a standby's WAL receiver (libpq) fail on ~/.postgresql it may not read.
    ...(account ? { uid: account.uid, gid: account.gid, env: { ...process.env, HOME: options.dataDir } } : {}),
  });
  const output = collectOutput(child, options.log);
  const exited = new Promise<ClusterExit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('error', () => {}); // reported through `exited`
  try {
    await waitReady(options.dataDir, child.pid!, exited, options.startTimeoutMs ?? 120_000);
  } catch (err) {
    child.kill('SIGQUIT');
    // Reaped before we report, so a caller that retries finds no half-started server in its way.
    await within(exited, 10_000);
    throw new ApError('PG_START_FAILED', `PostgreSQL did not start: ${(err as Error).message}\n${output.tail()}`, { cause: err });
  }
  options.log.info(`PostgreSQL ready (pid ${child.pid}, socket ${options.socketDir})`);
  return {
    pid: child.pid!,
    exited,
    tail: () => output.tail(),
    stop: (timeoutMs) => stopChild(child, exited, timeoutMs, options.log),
  };
}

/** initdb into `<data>.new`, then rename: a cut power never leaves half a cluster. */
async function initIfNeeded(options: ClusterOptions, account: Account | null): Promise<void> {
  if (await exists(join(options.dataDir, 'PG_VERSION'))) return;
  const entries = await readdir(options.dataDir).catch(() => null);
  if (entries && entries.length > 0) {
    throw new ApError(
      'PG_DATA_DIR_NOT_EMPTY',
      `${options.dataDir} holds files but no cluster (no PG_VERSION); move them away so a new cluster can be created`,
    );
  }
  const temp = join(dirname(options.dataDir), `${basename(options.dataDir)}.new`);
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { mode: 0o700 });
  if (account) await chown(temp, account.uid, account.gid);
  options.log.info(`creating a PostgreSQL cluster in ${options.dataDir}`);
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      join(options.bin, 'initdb'),
      ['-D', temp, '-U', SUPERUSER, '-E', 'UTF8', '--locale=C', '--auth-local=peer', '--auth-host=reject'],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(account ? { uid: account.uid, gid: account.gid } : {}) },
    );
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) {
    await rm(temp, { recursive: true, force: true });
    throw new ApError('PG_INITDB_FAILED', `initdb failed (exit ${code}):\n${output.join('').trim()}`);
  }
  await writeAccessRules(temp, account);
  if (entries) await rm(options.dataDir, { recursive: true, force: true }); // the empty folder
  await rename(temp, options.dataDir);
  await fsyncDir(dirname(options.dataDir));
}

/**
 * Local connections only: the supervisor's OS user (root on a box) maps to the
 * `postgres` superuser by peer authentication; every other role (one per app
 * instance) logs in with its password. Nothing from the network.
 */
async function writeAccessRules(dataDir: string, account: Account | null): Promise<void> {
  const me = userInfo().username;
  const hba = [
    '# Written by the App Platform supervisor. The seed explains when and how to edit this.',
    '# TYPE  DATABASE  USER      ADDRESS  METHOD',
    `local   all       ${SUPERUSER}           peer map=supervisor`,
    'local   all       all                scram-sha-256',
    '',
  ].join('\n');
  const ident = ['# MAPNAME   SYSTEM-USERNAME  PG-USERNAME', `supervisor  ${me}  ${SUPERUSER}`];
  if (me !== SUPERUSER) ident.push(`supervisor  ${SUPERUSER}  ${SUPERUSER}`);
  for (const [file, text] of [['pg_hba.conf', hba], ['pg_ident.conf', `${ident.join('\n')}\n`]] as const) {
    await writeFile(join(dataDir, file), text, { mode: 0o600 });
    if (account) await chown(join(dataDir, file), account.uid, account.gid);
  }
}

type Leftovers = Pick<ClusterOptions, 'dataDir' | 'log'>;

/** Stops what an earlier run left on `dataDir` (its postmaster, or the backends of a dead one): before the folder is moved away. */
export async function stopLeftovers(dataDir: string, log: Logger): Promise<void> {
  await stopOrphan({ dataDir, log });
  await killOrphanBackends({ dataDir, log });
}

/** A postmaster left running by a supervisor that was killed: stop it before starting ours. */
async function stopOrphan(options: Leftovers): Promise<void> {
  const pidFile = join(options.dataDir, 'postmaster.pid');
  const text = await readFile(pidFile, 'utf8').catch(() => null);
  if (text === null) return;
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // stale file: postgres handles it
  if ((await isServerOf(pid, options.dataDir)) === 'no') {
    // The pid was reused by an unrelated process (our postmaster was killed): postgres would refuse
    // to start on this file, and signalling that process would be wrong. Backends are cleared next.
    options.log.warn(`postmaster.pid names pid ${pid}, which is not a PostgreSQL server of ${options.dataDir}; removing the stale file`);
    await killOrphanBackends(options);
    await rm(pidFile, { force: true });
    return;
  }
  options.log.warn(`a PostgreSQL server (pid ${pid}) from an earlier run is still up on ${options.dataDir}; shutting it down`);
  process.kill(pid, 'SIGINT');
  if (!(await waitGone(pid, 30_000))) {
    throw new ApError('PG_ORPHAN', `PostgreSQL pid ${pid} from an earlier run did not stop; stop it by hand (kill ${pid})`);
  }
}

/**
 * Server processes of `dataDir` whose postmaster is gone (it was killed): they
 * still hold its shared memory, so a new postmaster would refuse to start
 * ("pre-existing shared memory block is still in use"), and they must never
 * run beside a new one. PostgreSQL's backends chdir into the data folder, so
 * they are the `postgres` processes whose cwd is it. Called only when no
 * postmaster of ours runs there; SIGKILL, as the PostgreSQL docs advise for
 * leftovers of a crashed server (crash recovery follows at start).
 */
async function killOrphanBackends(options: Leftovers): Promise<void> {
  const pids = await serverProcessesIn(options.dataDir);
  if (pids.length === 0) return;
  options.log.warn(`killing ${pids.length} PostgreSQL process(es) left by a dead postmaster: ${pids.join(', ')}`);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const deadline = Date.now() + 10_000;
  while ((await serverProcessesIn(options.dataDir)).length > 0) {
    if (Date.now() > deadline) throw new ApError('PG_ORPHAN', `PostgreSQL processes ${pids.join(', ')} of a dead server did not end; stop them by hand`);
    await delay(25);
  }
}

/** Pids of live `postgres` processes working in `dataDir` (zombies have no cwd and do not count). */
async function serverProcessesIn(dataDir: string): Promise<number[]> {
  const want = await realpath(dataDir).catch(() => dataDir);
  const found: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if ((await isServerOf(Number(entry), want)) === 'yes') found.push(Number(entry));
  }
  return found;
}

/**
 * Whether `pid` is a PostgreSQL process working in `dataDir`: 'unknown' when
 * we may not look (another user's process and we are not root), 'no' for a
 * zombie or a process that is gone.
 */
async function isServerOf(pid: number, dataDir: string): Promise<'yes' | 'no' | 'unknown'> {
  let cwd: string;
  let exe: string;
  try {
    [cwd, exe] = await Promise.all([readlink(`/proc/${pid}/cwd`), readlink(`/proc/${pid}/exe`)]);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EACCES' ? 'unknown' : 'no';
  }
  if (basename(exe.replace(/ \(deleted\)$/, '')) !== 'postgres') return 'no';
  return cwd === dataDir || cwd === (await realpath(dataDir).catch(() => dataDir)) ? 'yes' : 'no';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await delay(50);
  }
  return !alive(pid);
}

/**
 * Waits for postmaster.pid to say "ready" (its 8th line, what pg_ctl reads)
 * with `pid` on its first line: a killed postmaster leaves its file saying
 * "ready" until the new one replaces it. Fails early when the server exits.
 */
async function waitReady(dataDir: string, pid: number, exited: Promise<ClusterExit>, timeoutMs: number): Promise<void> {
  let gone: ClusterExit | undefined;
  void exited.then((exit) => (gone = exit));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`postgres exited with ${gone.signal ? `signal ${gone.signal}` : `code ${gone.code}`}`);
    const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '');
    const lines = text.split('\n');
    // A hot standby says "standby" once it accepts (read-only) connections.
    if (lines[0]?.trim() === String(pid) && (lines[7]?.trim() === 'ready' || lines[7]?.trim() === 'standby')) return;
    await delay(25);
  }
  throw new Error(`not ready after ${timeoutMs / 1000} s`);
}

async function stopChild(child: ChildProcess, exited: Promise<ClusterExit>, timeoutMs: number, log: Logger): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // SIGINT: fast shutdown (clients disconnected, checkpoint written). SIGQUIT:
  // immediate (recovery at next start). SIGKILL: last resort.
  const steps: [NodeJS.Signals, number][] = [
    ['SIGINT', timeoutMs * 0.8],
    ['SIGQUIT', timeoutMs * 0.15],
    ['SIGKILL', timeoutMs * 0.05],
  ];
  for (const [signal, wait] of steps) {
    child.kill(signal);
    const done = await within(exited, wait);
    if (done) {
      if (signal !== 'SIGINT') log.warn(`PostgreSQL needed ${signal} to stop`);
      else log.info('PostgreSQL stopped');
      return;
    }
  }
}

interface Output {
  tail(): string;
}

/** Forwards the server's output to the log (debug) and keeps the last lines for errors. */
function collectOutput(child: ChildProcess, log: Logger): Output {
  const lines: string[] = [];
  const take = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      log.debug(line);
      lines.push(line);
      if (lines.length > 20) lines.shift();
    }
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  return { tail: () => lines.join('\n') };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** True when `promise` settles within `ms`; leaves no timer behind. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(resolve, ms, false)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
