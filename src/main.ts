// The supervisor's entry: dispatches the command line, and for `ap serve`
// builds the parts in a visible order (config → paths → database → webserver
// → admin socket → timers) and takes them down in reverse on SIGTERM/SIGINT.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapSpaceStatistics } from 'node:v8';
import { startAdminServer } from './admin';
import { ManagerEvents } from './manager/events';
import { CTL_USAGE, ctlGroupHelp, parseArgs, serveHelp, SMALL_HELP, USAGE } from './cli';
import { getBoard, loadConfig, type Config } from './config';
import { ctl, type SupervisorStatus } from './ctl';
import { findPgBin, findPgTools, migrate, MIGRATIONS, openDatabase, settings, type Database, type DatabaseHealth } from './db';
import { Backups, BackupSchedule } from './backup';
import { backupRoutes, boxLabel, macAddress } from './backup/api';
import { ApError, describe, exitCodeOf, InvalidField, UsageError } from './errors';
import { createLogger } from './log';
import { createNotifier } from './notify';
import { acquireLock, clearScratch, createLayout, ensureReserve, layout, type Lock, type ReserveState } from './paths';
import { DEFAULT_POLICY, startServices, type Services } from './services';
import { installCertificate, prepareCertificate } from './tls';
import { BUILD_LABEL, VERSION } from './version';
import { RouteTable, startWebserver, type Webserver } from './webserver';
import { Api, errorBody, StreamBody } from './api';
import { ManagerAuth, workerHasher } from './auth';
import { serviceRoutes } from './services/api';
import { installUpload } from './services/upload';
import { AppStore, storeArch, storeRoutes } from './store';
import { rebootPort, systemRoutes } from './system';
import { Instances } from './instances';
import { instanceRoutes } from './instances/api';
import { NightlyAnalyse } from './instances/maintenance';
import { Jobs, jobRoutes } from './jobs';
import { isLoopback, metricsAllowed, postmasterPid, startMonitor, type Monitor } from './monitor';
import { bootControl } from './boot';
import { Updater } from './image';
import { updateRoutes } from './image/api';
import { settingValue } from './db/registry';
import { settingRoutes } from './db/registry';

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
        if (inv.switches.has('help')) {
          io.out(SMALL_HELP.version);
          return 0;
        }
        io.out(inv.switches.has('json') ? JSON.stringify({ version: VERSION, label: BUILD_LABEL }) : `ap ${VERSION} (build ${BUILD_LABEL})`);
        return 0;
      case 'node-flags':
        if (inv.switches.has('help')) {
          io.out(SMALL_HELP['node-flags']);
          return 0;
        }
        io.out(getBoard(inv.flags.board ?? env.AP_BOARD ?? 'dev').nodeFlags.join(' '));
        return 0;
      case 'ctl':
        if (inv.switches.has('help')) {
          io.out(ctlGroupHelp(inv.positionals[0] ?? '') ?? CTL_USAGE);
          return 0;
        }
        return await ctl({ words: inv.positionals, flags: inv.flags, switches: inv.switches, json: inv.switches.has('json'), env, cwd }, io);
      case 'serve':
        if (inv.switches.has('help')) {
          io.out(serveHelp());
          return 0;
        }
        return await serve(loadConfig({ flags: inv.flags, env, cwd, uid: process.getuid?.() }), env);
    }
  } catch (err) {
    if (wantsJson(argv)) io.out(JSON.stringify(cliErrorBody(err), null, 2));
    else io.err(`ap: ${describe(err)}`);
    return exitCodeOf(err);
  }
}

/** Whether the command line asked for JSON (also when it failed to parse): ctl and version. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (argv[0] === 'ctl' || argv[0] === 'version') && argv.slice(0, end < 0 ? undefined : end).includes('--json');
}

/** An error in the API's shape, {error: {code, message, field?}}, with its whole message (a usage error's without the usage text). */
function cliErrorBody(err: unknown): { error: { code: string; message: string; field?: string } } {
  if (!(err instanceof ApError)) return { error: { code: 'ERROR', message: describe(err) } };
  return { error: { ...errorBody(err).error, message: err instanceof UsageError ? err.message.split('\n\n')[0]! : describe(err) } };
}

type Status = SupervisorStatus;

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
  let services: Services | undefined;
  let analyse: NightlyAnalyse | undefined;
  let backupSchedule: BackupSchedule | undefined;
  let dumps: { stop(): void } | undefined;
  let monitor: Monitor | undefined;
  let confirmTimer: NodeJS.Timeout | undefined;
  let api: Api | undefined;
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
    http: { host: config.http.host, port: web?.httpPort ?? null, httpsPort: web?.httpsPort ?? null, managerPort: web?.managerHttpPort ?? null, managerHttpsPort: web?.managerHttpsPort ?? null },
    db: { mode: config.db.mode, socketDir: config.db.socketDir, port: config.db.port, schemaVersion: db?.schemaVersion ?? null, ...db?.health() },
    reserve,
    services: services?.list() ?? [],
    memory: process.memoryUsage(),
  });

  let exitCode = 0;
  try {
    log.info(`ap ${VERSION} (build ${BUILD_LABEL}) starting: board ${config.board.name}, root ${config.root}`);
    lock = await acquireLock(paths);
    await createLayout(paths);
    const scratch = await clearScratch(paths);
    if (scratch.length) log.info(`removed what an interrupted run left on p2: ${scratch.join(', ')}`);
    checkpoint();
    notify.status('starting the database');
    db = await openDatabase(config, paths, log.child('db'));
    checkpoint();
    reserve = await ensureReserve(paths, config.reserveBytes);
    if (reserve === 'no-space') log.warn(`not enough free space on ${paths.data} for the ${config.reserveBytes}-byte reserve file; will retry at the next start`);
    const database = db;
    const store = settings(db.sql);
    const auth = new ManagerAuth({ settings: store, hasher: workerHasher(new URL(import.meta.url)), log: log.child('manager') });
    await auth.init();
    const events = new ManagerEvents(auth, log.child('manager'));
    auth.onSessionsEnded(() => events.sweep());
    const certificate = await prepareCertificate(store, paths.tls, log.child('tls'));
    checkpoint();

    // Instances live in the manager database; those declared in the config file are created when missing.
    notify.status('loading app instances');
    let routes = new RouteTable();
    const instances = await Instances.open(
      {
        sql: db.sql,
        cluster: { socketDir: config.db.socketDir, port: config.db.port },
        services: {
          installed: (service) => services?.get(service) !== undefined,
          running: (service) => services?.get(service)?.state === 'running',
          control: (service, message) => services?.get(service)?.control(message) ?? false,
        },
        log: log.child('instances'),
        onRoutes: (table) => (routes = table),
        closeConnections: (id, code, reason) => void web?.closeInstance(id, code, reason),
      },
      config.instances.map(({ maxBodyBytes, ...declared }) => ({ ...declared, ...(maxBodyBytes === null ? {} : { maxBodyBytes }) })),
    );
    checkpoint();
    notify.status('starting app services');
    const running = await startServices({
      paths,
      log,
      logMaxBytes: config.services.logMaxBytes,
      startTimeoutMs: 30_000,
      stopTimeoutMs: Math.max(1000, Math.floor(config.shutdownTimeoutMs / 3)),
      maxPayload: Math.max(config.ws.maxPayloadBytes, 1024 * 1024),
      ownUser: config.services.ownUser,
      appSecurityDisabled: async () => (await settingValue(store, 'disableAppSecurity')) === 'true',
      // A service's heap is its own business, but the box's young-generation size is the board's.
      nodeFlags: config.board.nodeFlags.filter((flag) => flag.startsWith('--max-semi-space-size=')),
      policy: {
        ...DEFAULT_POLICY,
        minDelayMs: config.services.restartDelayMs,
        maxDelayMs: Math.max(DEFAULT_POLICY.maxDelayMs, config.services.restartDelayMs),
        maxDeaths: config.services.restartLimit,
        windowMs: config.services.restartWindowMs,
      },
      instancesOf: (service) => instances.startMessages(service),
    });
    services = running;
    checkpoint();

    const boot = bootControl(config.board, paths.boot);
    const server = await startWebserver({
      host: config.http.host,
      httpPort: config.http.httpPort,
      managerHttpPort: config.http.managerHttpPort,
      https: { port: config.http.httpsPort, managerPort: config.http.managerHttpsPort, certFile: certificate.certFile, keyFile: certificate.keyFile },
      maxHeaderBytes: config.http.maxHeaderBytes,
      http: { maxHeaderBytes: config.http.maxHeaderBytes, maxBodyBytes: config.http.maxBodyBytes, requestTimeoutMs: config.http.requestTimeoutMs },
      ws: { ...config.ws, maxHeaderBytes: config.http.maxHeaderBytes },
      routes: () => routes,
      upstreams: { get: (name) => running.get(name), onState: (listener) => running.onState(listener) },
      log: log.child('web'),
      metrics: () => monitor?.metrics.prometheus() ?? null,
      // The box itself without a query; others as the metricsAccess setting says.
      metricsAllowed: async (remote, authorization) =>
        isLoopback(remote) || metricsAllowed(remote, authorization, await settingValue(store, 'metricsAccess'), await settingValue(store, 'metricsToken')),
      boot: () => boot.read() as unknown as Promise<Record<string, unknown>>,
      ramdiskLog: join(paths.data, 'ramdisk.log'),
      manager: { api: () => api ?? null, auth: () => auth, log: log.child('manager'), version: VERSION, events },
      uiDir: join(dirname(fileURLToPath(import.meta.url)), 'manager'),
      health: async () => {
        const dbOk = await database.ping();
        const ok = dbOk && state === 'running';
        const summary = ok ? 'ok' : state === 'running' ? 'degraded' : state;
        const { version, label, board, uptimeSeconds } = status();
        return { ok, body: { status: summary, version, label, board, db: dbOk ? 'ok' : 'down', uptimeSeconds } };
      },
    });
    web = server;
    const named = (args: Record<string, unknown>): string => {
      if (typeof args.name !== 'string') throw new ApError('BAD_REQUEST', 'needs "name", a service name');
      return args.name;
    };
    monitor = startMonitor({
      settings: store,
      paths,
      log: log.child('monitor'),
      reserveBytes: config.reserveBytes,
      intervalMs: config.monitorIntervalMs,
      label: BUILD_LABEL,
      // The board's mounted partitions: p1 boot, p2 data, p3 the running system ("/" is the state root);
      // a board without partitions (dev) reports the folders of p1 and p2.
      partitions:
        config.board.partitions.length === 0
          ? { p1: paths.boot, p2: paths.data }
          : Object.fromEntries(config.board.partitions.flatMap((p) => (p.mount === null ? [] : [[`p${p.number}`, p.mount === '/' ? config.root : join(config.root, p.mount)]]))),
      services: {
        list: () => running.list(),
        // The disk guard's stops are not a person's: they are not remembered across a restart.
        stop: (name) => running.pause(name),
        start: (name) => running.resume(name),
      },
      sources: {
        postgres: () => postmasterPid(paths.pgsql),
        connections: () => server.stats(),
        databaseSizes: async () => {
          const sizes = await instances.sizes();
          return new Map(instances.list().flatMap((i) => (sizes.has(i.dbName) ? [[`${i.name}@${i.domain}`, sizes.get(i.dbName)!] as const] : [])));
        },
      },
    });
    const alarms = monitor.alarms;
    // The database going down and coming back: an alarm while it is down; once
    // back, running instances hear instance.config so their services reconnect.
    const onDatabase = (health: DatabaseHealth) => {
      if (health.state !== 'up') {
        alarms.raise('database', 'DATABASE_DOWN', 'critical', databaseAlarmText(config, paths.pgsql, health));
        return;
      }
      alarms.clear('database', 'DATABASE_DOWN');
      const told = instances.databaseBack();
      log.info(`database is back: ${told.length === 0 ? 'no running instances to tell' : `told ${told.join(', ')} to reconnect (instance.config)`}`);
    };
    database.onChange(onDatabase);
    if (database.health().state !== 'up') onDatabase(database.health());
    monitor.checkCertificate(certificate.chain);
    running.onState((service, state) => events.publish({ type: 'service', name: service, state }));
    alarms.onEvent((event) => events.publish({ type: 'alarm', event: event.type, alarm: event.alarm }));
    running.onState((service, state) => {
      if (state === 'failed') alarms.raise(`service:${service}`, 'CRASH_LOOP', 'major', `app service ${service} kept dying and was given up (${running.get(service)?.status().reason ?? 'see its log'})`);
      else if (state === 'running') alarms.clear(`service:${service}`, 'CRASH_LOOP');
    });
    const jobs = new Jobs(log.child('jobs'), (job) => {
      if (job.kind !== 'backup') return;
      if (job.state === 'failed') alarms.raise(`backup:${job.target}`, 'BACKUP_FAILED', 'major', `the backup of ${job.target} failed: ${job.message}`);
      else alarms.clear(`backup:${job.target}`, 'BACKUP_FAILED');
    });
    jobs.onChange((job) => events.publish({ type: 'job', job }));
    let pgTools: string | null = null;
    const vacuumTarget = () => ({ bin: (pgTools ??= findPgTools(findPgBin(config.db.bin))), cluster: { socketDir: config.db.socketDir, port: config.db.port } });
    analyse = new NightlyAnalyse({ settings: store, target: vacuumTarget, log: log.child('analyse') });
    analyse.start();
    const backups = new Backups({
      sql: db.sql,
      instances,
      jobs,
      settings: store,
      log: log.child('backup'),
      tools: () => vacuumTarget().bin,
      cluster: { socketDir: config.db.socketDir, port: config.db.port },
      serviceInfo: (service) => {
        const s = running.get(service)?.status();
        return s ? { version: s.version, label: s.label } : null;
      },
      supervisor: { version: VERSION, label: BUILD_LABEL },
      boxLabel: () => boxLabel(join(paths.boot, 'label'), BUILD_LABEL),
      mac: () => macAddress(),
      schemaVersion: () => database.schemaVersion,
      latestSchema: MIGRATIONS.at(-1)!.version,
      stallMs: config.backup.stallTimeoutMs,
      afterManagerRestore: async () => {
        await migrate(database.sql, MIGRATIONS, log.child('db'));
        await instances.reload();
        const prepared = await prepareCertificate(store, paths.tls, log.child('tls'));
        await server.reloadCertificate(prepared.certFile, prepared.keyFile);
        monitor?.checkCertificate(prepared.chain);
      },
    });
    dumps = backups;
    backupSchedule = new BackupSchedule({ backups, settings: store, log: log.child('backup') });
    backupSchedule.start();
    const updater = new Updater({
      bootDir: paths.boot,
      board: config.board,
      boot,
      jobs,
      log: log.child('update'),
      storeUrl: () => settingValue(store, 'appStoreUrl'),
      keysDir: config.update.keysDir,
      reboot: rebootPort(config.update.rebootCommand, log.child('update')),
      report: ({ ok, text }) => (ok ? alarms.clear('update', 'UPDATE_FAILED') : alarms.raise('update', 'UPDATE_FAILED', 'major', text)),
    });
    const appStore = new AppStore({
      storeUrl: () => settingValue(store, 'appStoreUrl'),
      keysDir: config.update.keysDir,
      arch: storeArch(config.board.arch),
      workDir: paths.data,
      jobs,
      install: (dir) => running.install(dir),
      installed: (name) => {
        const s = running.get(name)?.status();
        return s ? { version: s.version, label: s.label } : null;
      },
    });
    api = new Api([
      ...serviceRoutes(running, { logs: paths.appLogs, coreDumps: paths.coreDumps }, { jobs, workDir: paths.data, developerMode: async () => (await settingValue(store, 'developerMode')) === 'true' }),
      {
        method: 'GET',
        pattern: '/certificate',
        summary: 'the webserver certificate being served: subject, issuer, validity, whether it was uploaded',
        handler: async () => {
          const c = await prepareCertificate(store, paths.tls, log.child('tls'));
          return { subject: c.chain.subject.replace(/\n/g, ', '), issuer: c.chain.issuer.replace(/\n/g, ', '), validTo: c.chain.validTo.toISOString(), custom: c.custom, fingerprint256: c.chain.fingerprint256 };
        },
      },
      {
        method: 'GET',
        pattern: '/certificate/download',
        summary: 'the served certificate chain as PEM (certificates only, never the key)',
        handler: async () => {
          const c = await prepareCertificate(store, paths.tls, log.child('tls'));
          return new StreamBody(Readable.from([Buffer.from(c.chain.certPem)]), 'application/x-pem-file', 'webserver-certificate.pem');
        },
      },
      {
        method: 'GET',
        pattern: '/diagnostics',
        summary: 'for a support case: versions, memory, sessions, recent jobs, alarms raised and cleared',
        handler: () => ({
          status: status(),
          node: process.versions.node,
          sessions: auth.count,
          jobs: jobs.list().slice(0, 20),
          alarms: { active: alarms.active(), cleared: alarms.history().slice(0, 50) },
        }),
      },
      {
        method: 'PUT',
        pattern: '/certificate',
        summary: 'upload the webserver certificate ({"pem"}: certificate, intermediates, unencrypted key); checked (key, order, validity), applied at once',
        handler: async ({ body }) => {
          const pem = (body as { pem?: unknown }).pem;
          if (typeof pem !== 'string') throw new InvalidField('pem', 'expected the PEM text');
          const chain = await installCertificate(store, pem);
          const prepared = await prepareCertificate(store, paths.tls, log.child('tls'));
          await server.reloadCertificate(prepared.certFile, prepared.keyFile);
          monitor?.checkCertificate(prepared.chain);
          log.info(`webserver certificate replaced: ${chain.subject.replace(/\n/g, ', ')}`);
          return { subject: chain.subject.replace(/\n/g, ', '), issuer: chain.issuer.replace(/\n/g, ', '), validTo: chain.validTo.toISOString(), custom: true, fingerprint256: chain.fingerprint256 };
        },
      },
      ...systemRoutes({ rebootCommand: config.update.rebootCommand, shutdownCommand: config.update.shutdownCommand, passwdCommand: config.system.passwdCommand, log }),
      { method: 'GET', pattern: '/database', summary: 'the database: mode, up / down since / restarting / given up, restarts', handler: () => ({ mode: config.db.mode, ...database.health() }) },
      {
        method: 'POST',
        pattern: '/database/start',
        summary: 'a managed cluster that was given up after dying too often: start it again (attached: check it now)',
        handler: async () => ({ mode: config.db.mode, ...(await database.start()) }),
      },
      { method: 'GET', pattern: '/status', summary: "the supervisor's state: version, board, ports, database, services, memory", handler: () => status() },
      ...instanceRoutes(instances, { jobs, target: vacuumTarget, analyse }),
      ...backupRoutes(backups, backupSchedule, paths.data),
      ...jobRoutes(jobs),
      ...monitor.routes(),
      ...updateRoutes(updater, boot),
      ...settingRoutes(store),
      ...storeRoutes(appStore),
    ], { onChanged: (method, path) => events.publish({ type: 'changed', method, path }) });
    admin = await startAdminServer(
      paths.adminSocket,
      {
        status,
        'service.list': () => running.list(),
        // For measurements: a full collection when Node runs with --expose-gc.
        'debug.gc': () => {
          const gc = (globalThis as { gc?: () => void }).gc;
          if (!gc) throw new ApError('GC_UNAVAILABLE', 'start the supervisor with node --expose-gc to use this');
          for (const service of running.list()) running.get(service.name)?.requestGc();
          gc();
          // Where the heap's pages go, per V8 space (committed, physical, in use).
          const spaces = Object.fromEntries(
            getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, physical: s.physical_space_size, used: s.space_used_size }]),
          );
          return { ...process.memoryUsage(), spaces };
        },
        // The admin API (/manager/api/… once the Manager serves it): {method, path, query?, body?} → {status, body}.
        api: (args) => {
          if (typeof args.method !== 'string' || typeof args.path !== 'string') throw new ApError('BAD_REQUEST', 'needs "method" and "path"');
          const query = (typeof args.query === 'object' && args.query !== null ? args.query : {}) as Record<string, string>;
          return api!.handle({ method: args.method, path: args.path, query, body: args.body }, (err) => log.error(`admin API ${args.method} ${args.path}: ${describe(err)}`), 'json');
        },
        'service.install': async (args) => {
          if (typeof args.dir !== 'string') throw new ApError('BAD_REQUEST', 'needs "dir", the folder of the service (or its .tar.gz)');
          // A package file (as the Manager takes in Developer mode; root needs no Developer mode), or a folder.
          const waitReady = args.wait !== false; // ap ctl service install --no-wait: return once copied and started
          if (!(await stat(args.dir).catch(() => null))?.isFile()) return running.install(args.dir, { waitReady });
          const quiet = { progress: () => {}, line: () => {} };
          return installUpload(createReadStream(args.dir) as AsyncIterable<Buffer>, paths.data, (dir) => running.install(dir, { waitReady }), quiet);
        },
        'service.start': (args) => {
          running.start(named(args));
          return running.get(named(args))!.status();
        },
        'service.stop': async (args) => {
          await running.stop(named(args));
          return running.get(named(args))!.status();
        },
        'manager.password': async (args) => {
          await auth.resetPassword(args.password);
          return { set: true };
        },
        'cert.install': async (args) => {
          if (typeof args.pem !== 'string') throw new ApError('BAD_REQUEST', 'needs "pem", the PEM chain');
          const chain = await installCertificate(store, args.pem);
          const prepared = await prepareCertificate(store, paths.tls, log.child('tls'));
          await server.reloadCertificate(prepared.certFile, prepared.keyFile);
          monitor?.checkCertificate(prepared.chain);
          log.info(`webserver certificate replaced: ${chain.subject.replace(/\n/g, ', ')}, valid until ${chain.validTo.toISOString()}`);
          return { subject: chain.subject, issuer: chain.issuer, validTo: chain.validTo.toISOString(), fingerprint256: chain.fingerprint256 };
        },
      },
      log.child('admin'),
    );
    checkpoint();
    state = 'running';
    notify.ready();
    // A freshly updated image is confirmed once it has been READY for a while (S01bootcheck counts its boots until then).
    confirmTimer = setTimeout(() => {
      updater.afterBoot().catch((err) => log.error(`update: ${describe(err)}`));
    }, config.update.confirmAfterMs);
    confirmTimer.unref();
    notify.status(`serving apps on port ${web.httpPort}, the Manager on port ${web.managerHttpPort}`);
    // The apps' line first: whoever waits for the ready line finds both.
    log.info(`apps at ${web.url}${web.httpsPort === null ? '' : ` (HTTPS port ${web.httpsPort})`}`);
    log.info(`ready: Manager at ${web.managerUrl}`);
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
  clearTimeout(confirmTimer);
  await step('monitoring', () => monitor?.stop());
  await step('webserver', () => web?.close());
  await step('nightly analyse', () => analyse?.stop());
  await step('backup schedule', () => backupSchedule?.stop());
  await step('running dumps', () => dumps?.stop());
  await step('app services', () => services?.stopAll());
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

/** The DATABASE_DOWN alarm's text: which cluster, since when, why, and what happens next. */
function databaseAlarmText(config: Config, dataDir: string, health: DatabaseHealth): string {
  const which = config.db.mode === 'managed' ? `PostgreSQL (managed, ${dataDir})` : `PostgreSQL (attached, socket ${config.db.socketDir} port ${config.db.port})`;
  if (health.state === 'given-up') return `${which} is down since ${health.downSince ?? 'now'} and was given up: it ${health.reason ?? 'kept dying'}`;
  const next =
    health.state === 'restarting'
        ? `restarting (restarts so far: ${health.restarts})`
        : config.db.mode === 'attached'
          ? 'the supervisor cannot restart it: check /etc/init.d/S50postgresql'
          : 'down';
  return `${which} is down since ${health.downSince ?? 'now'}: ${health.reason ?? 'no answer'}; ${next}`;
}

class StopDuringStart extends ApError {
  constructor() {
    super('STOPPED', 'stopped while starting');
  }
}
