// The supervisor's entry: dispatches the command line, and for `ap serve`
// builds the parts in a visible order (config → paths → database → webserver
// → admin socket → timers) and takes them down in reverse on SIGTERM/SIGINT.
import { adminRequest, startAdminServer } from './admin';
import { CTL_USAGE, parseArgs, serveHelp, USAGE } from './cli';
import { getBoard, loadConfig, type Config } from './config';
import { openDatabase, type Database } from './db';
import { ApError, describe, exitCodeOf, UsageError } from './errors';
import { createLogger } from './log';
import { createNotifier } from './notify';
import { acquireLock, createLayout, ensureReserve, layout, type Lock, type ReserveState } from './paths';
import { BUILD_LABEL, VERSION } from './version';
import { startWebserver, type Webserver } from './webserver';

type Env = Readonly<Record<string, string | undefined>>;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[], env: Env, cwd: string, io: Io = STDIO): Promise<number> {
  try {
    const inv = parseArgs(argv);
    switch (inv.command) {
      case 'help':
        io.out(inv.positionals[0] === 'serve' ? serveHelp() : inv.positionals[0] === 'ctl' ? CTL_USAGE : USAGE);
        return 0;
      case 'version':
        io.out(inv.switches.has('json') ? JSON.stringify({ version: VERSION, label: BUILD_LABEL }) : `ap ${VERSION} (build ${BUILD_LABEL})`);
        return 0;
      case 'node-flags':
        io.out(getBoard(inv.flags.board ?? env.AP_BOARD ?? 'dev').nodeFlags.join(' '));
        return 0;
      case 'ctl':
        if (inv.switches.has('help')) {
          io.out(CTL_USAGE);
          return 0;
        }
        return await ctl(inv.positionals[0], inv.flags, inv.switches.has('json'), env, cwd, io);
      case 'serve':
        if (inv.switches.has('help')) {
          io.out(serveHelp());
          return 0;
        }
        return await serve(loadConfig({ flags: inv.flags, env, cwd }), env);
    }
  } catch (err) {
    io.err(`ap: ${describe(err)}`);
    return exitCodeOf(err);
  }
}

async function ctl(command: string | undefined, flags: Readonly<Record<string, string>>, json: boolean, env: Env, cwd: string, io: Io): Promise<number> {
  if (command === undefined) throw new UsageError(`ap ctl needs a command\n\n${CTL_USAGE}`);
  if (command !== 'status') throw new UsageError(`unknown ctl command "${command}"\n\n${CTL_USAGE}`);
  const timeout = flags.timeout ?? '10';
  if (!/^\d{1,4}$/.test(timeout) || Number(timeout) < 1) throw new UsageError(`invalid value "${timeout}" for --timeout: expected whole seconds`);
  // Only where the root is matters to ctl; the rest of the config is the server's.
  const where = Object.fromEntries(Object.entries(flags).filter(([name]) => name === 'root' || name === 'board'));
  const config = loadConfig({ flags: where, env, cwd });
  const status = (await adminRequest(layout(config.root).adminSocket, 'status', {}, Number(timeout) * 1000)) as Status;
  io.out(json ? JSON.stringify(status, null, 2) : formatStatus(status));
  return 0;
}

interface Status {
  state: 'starting' | 'running' | 'stopping';
  pid: number;
  version: string;
  label: string;
  board: string;
  root: string;
  startedAt: string;
  uptimeSeconds: number;
  http: { host: string; port: number | null };
  db: { mode: string; socketDir: string; schemaVersion: number | null };
  reserve: ReserveState | null;
}

function formatStatus(s: Status): string {
  return [
    `state:    ${s.state} (pid ${s.pid}, up ${s.uptimeSeconds} s)`,
    `version:  ${s.version} (build ${s.label})`,
    `board:    ${s.board}`,
    `root:     ${s.root}`,
    `http:     ${s.http.port === null ? 'not listening' : `${s.http.host} port ${s.http.port}`}`,
    `database: ${s.db.mode}, socket ${s.db.socketDir}, schema ${s.db.schemaVersion ?? '-'}`,
    `reserve:  ${s.reserve ?? '-'}`,
  ].join('\n');
}

/** Runs the supervisor until SIGTERM/SIGINT; resolves with the exit status. */
export async function serve(config: Config, env: Env): Promise<number> {
  const log = createLogger(config.log);
  const notify = createNotifier(env, log);
  const paths = layout(config.root);
  const startedAt = new Date();
  let state: Status['state'] = 'starting';
  let lock: Lock | undefined;
  let db: Database | undefined;
  let web: Webserver | undefined;
  let admin: { close(): Promise<void> } | undefined;
  let reserve: ReserveState | null = null;

  let stopRequested = false;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const requestStop = (why: string) => {
    if (stopRequested) {
      log.warn(`${why} again: already stopping`);
      return;
    }
    stopRequested = true;
    log.info(`${why}: stopping`);
    wake();
  };
  const onSignal = (signal: NodeJS.Signals) => requestStop(signal);
  // A bug that escapes to the top must not leave PostgreSQL and the apps
  // orphaned: log it and take everything down in order, exiting 1.
  let crashed = false;
  const onCrash = (err: unknown) => {
    log.error(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    crashed = true;
    requestStop('internal error');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  const checkpoint = () => {
    if (stopRequested) throw new StopDuringStart();
  };

  const status = (): Status => ({
    state,
    pid: process.pid,
    version: VERSION,
    label: BUILD_LABEL,
    board: config.board.name,
    root: config.root,
    startedAt: startedAt.toISOString(),
    uptimeSeconds: Math.floor((Date.now() - startedAt.getTime()) / 1000),
    http: { host: config.http.host, port: web?.httpPort ?? null },
    db: { mode: config.db.mode, socketDir: config.db.socketDir, schemaVersion: db?.schemaVersion ?? null },
    reserve,
  });

  let exitCode = 0;
  try {
    log.info(`ap ${VERSION} (build ${BUILD_LABEL}) starting: board ${config.board.name}, root ${config.root}`);
    lock = await acquireLock(paths);
    await createLayout(paths);
    checkpoint();
    notify.status('starting the database');
    db = await openDatabase(config, paths, log.child('db'));
    checkpoint();
    reserve = await ensureReserve(paths, config.reserveBytes);
    if (reserve === 'no-space') log.warn(`not enough free space on ${paths.data} for the ${config.reserveBytes}-byte reserve file; will retry at the next start`);
    const database = db;
    web = await startWebserver({
      host: config.http.host,
      httpPort: config.http.httpPort,
      log: log.child('web'),
      health: async () => {
        const dbOk = await database.ping();
        const ok = dbOk && state === 'running';
        const summary = ok ? 'ok' : state === 'running' ? 'degraded' : state;
        const { version, label, board, uptimeSeconds } = status();
        return { ok, body: { status: summary, version, label, board, db: dbOk ? 'ok' : 'down', uptimeSeconds } };
      },
    });
    admin = await startAdminServer(paths.adminSocket, { status }, log.child('admin'));
    checkpoint();
    state = 'running';
    notify.ready();
    notify.status(`serving on port ${web.httpPort}`);
    log.info(`ready: Manager at ${web.url}manager/`);
    await stopped;
  } catch (err) {
    if (!(err instanceof StopDuringStart)) {
      log.error(`start failed: ${describe(err)}`);
      exitCode = exitCodeOf(err);
    }
  }

  // Reverse order, each step bounded; a failing step does not skip the rest.
  state = 'stopping';
  notify.stopping();
  const deadline = setTimeout(() => {
    log.error(`shutdown took longer than ${config.shutdownTimeoutMs / 1000} s; exiting`);
    process.exit(1);
  }, config.shutdownTimeoutMs + 5000);
  deadline.unref();
  const step = async (name: string, fn: () => Promise<void> | void) => {
    try {
      await fn();
    } catch (err) {
      log.error(`stopping ${name} failed: ${describe(err)}`);
      exitCode ||= 1;
    }
  };
  await step('webserver', () => web?.close());
  await step('admin socket', () => admin?.close());
  await step('database', () => db?.close(config.shutdownTimeoutMs));
  await step('lock', () => lock?.release());
  if (crashed) exitCode ||= 1;
  notify.close();
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off('uncaughtException', onCrash);
  process.off('unhandledRejection', onCrash);
  log.info(exitCode === 0 ? 'stopped' : `stopped with status ${exitCode}`);
  log.close();
  clearTimeout(deadline);
  return exitCode;
}

class StopDuringStart extends ApError {
  constructor() {
    super('STOPPED', 'stopped while starting');
  }
}

