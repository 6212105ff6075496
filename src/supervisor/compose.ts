// The composition root: builds the supervisor's parts in order, hands each what
// it needs, and registers each one's stop with `parts`, which stops them in
// exact reverse. What a part needs from one made later (instances ask the
// services, the webserver asks the API) goes through a getter named here.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api } from '../api';
import { ManagerAuth, workerHasher } from '../auth';
import { BACKUP_SETTINGS, backupRoutes, Backups, BackupSchedule, boxLabel, macAddress } from '../backup';
import { bootControl } from '../boot';
import type { Config } from '../config';
import { findPgBin, findPgTools, migrate, MIGRATIONS, openDatabase, settingRoutes, settings, settingValue } from '../db';
import { Updater, updateRoutes } from '../image';
import { instanceRoutes, Instances, NightlyAnalyse } from '../instances';
import { Jobs, jobRoutes } from '../jobs';
import type { Logger } from '../log';
import { ManagerEvents, managerSite } from '../manager';
import { isLoopback, metricsAllowed, postmasterPid, startMonitor, type Monitor } from '../monitor';
import type { Notifier } from '../notify';
import { acquireLock, clearScratch, createLayout, ensureReserve, type Paths, type ReserveState } from '../paths';
import { DEFAULT_POLICY, installUpload, serviceRoutes, startServices, type Services } from '../services';
import { AppStore, storeArch, storeRoutes } from '../store';
import { rebootPort, systemRoutes } from '../system';
import { Certificates, prepareCertificate } from '../tls';
import { BUILD_LABEL, VERSION } from '../version';
import { RouteTable, startWebserver, type Webserver } from '../webserver';
import { startAdminServer } from '../admin';
import { adminVerbs } from './admin';
import type { Parts } from './parts';
import { supervisorRoutes, type Status } from './routes';
import { backupAlarm, wireJobs, wireStates } from './wiring';

export interface Composition {
  readonly web: Webserver;
  /** A freshly updated image is confirmed once it has been ready for a while. */
  readonly updater: Updater;
}

export interface Context {
  readonly config: Config;
  readonly paths: Paths;
  readonly parts: Parts;
  readonly log: Logger;
  readonly notify: Notifier;
  /** The supervisor's own state, for status and health. */
  readonly state: () => Status['state'];
  readonly startedAt: Date;
  /** Where the bundle is: the Manager UI and the password-hash worker are beside it. */
  readonly bundleUrl: URL;
}

/** Starts every part, in order; resolves once all are up. */
export async function compose(ctx: Context): Promise<Composition> {
  const { config, paths, parts, log, notify } = ctx;
  await parts.start('state lock', () => acquireLock(paths), (lock) => lock.release());
  await createLayout(paths);
  const scratch = await clearScratch(paths);
  if (scratch.length) log.info(`removed what an interrupted run left on p2: ${scratch.join(', ')}`);

  notify.status('starting the database');
  const database = await parts.start('database', () => openDatabase(config, paths, log.child('db')), (db) => db.close(config.shutdownTimeoutMs));
  const reserve: ReserveState = await ensureReserve(paths, config.reserveBytes);
  if (reserve === 'no-space') log.warn(`not enough free space on ${paths.data} for the ${config.reserveBytes}-byte reserve file; will retry at the next start`);
  const store = settings(database.sql);
  const hasher = await parts.start('password hashing', () => workerHasher(ctx.bundleUrl), (h) => h.close());
  const auth = await parts.start('Manager login', async () => {
    const made = new ManagerAuth({ settings: store, hasher, log: log.child('manager') });
    await made.init();
    return made;
  });
  const events = new ManagerEvents(auth, log.child('manager'));
  auth.onSessionsEnded(() => events.sweep());
  const certificate = await prepareCertificate(store, paths.tls, log.child('tls'));

  // Instances live in the manager database; those declared in the config file are created when missing.
  notify.status('loading app instances');
  let services: Services | undefined;
  let web: Webserver | undefined;
  let routes = new RouteTable();
  const instances = await parts.start('app instances', () =>
    Instances.open(
      {
        sql: database.sql,
        cluster: { socketDir: config.db.socketDir, port: config.db.port },
        services: {
          installed: (service) => services?.get(service) !== undefined,
          running: (service) => services?.get(service)?.state === 'running',
          control: (service, message) => services?.get(service)?.control(message) ?? false,
        },
        log: log.child('instances'),
        // Published as data; the webserver's table checks them (a bad one fails the change that made it).
        onRoutes: (list) => (routes = new RouteTable(list)),
        closeConnections: (id, code, reason) => void web?.closeInstance(id, code, reason),
      },
      config.instances.map(({ maxBodyBytes, ...declared }) => ({ ...declared, ...(maxBodyBytes === null ? {} : { maxBodyBytes }) })),
    ),
  );

  notify.status('starting app services');
  const running = await parts.start(
    'app services',
    () =>
      startServices({
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
      }),
    (s) => s.stopAll(),
  );
  services = running;

  const boot = bootControl(config.board, paths.boot);
  let api: Api | undefined;
  let monitor: Monitor | undefined;
  const status = (): Status => ({
    state: ctx.state(),
    pid: process.pid,
    version: VERSION,
    label: BUILD_LABEL,
    board: config.board.name,
    root: config.root,
    startedAt: ctx.startedAt.toISOString(),
    uptimeSeconds: Math.floor((Date.now() - ctx.startedAt.getTime()) / 1000),
    http: { host: config.http.host, port: web?.httpPort ?? null, httpsPort: web?.httpsPort ?? null, managerPort: web?.managerHttpPort ?? null, managerHttpsPort: web?.managerHttpsPort ?? null },
    db: { mode: config.db.mode, socketDir: config.db.socketDir, port: config.db.port, schemaVersion: database.schemaVersion, ...database.health() },
    reserve,
    services: running.list(),
    memory: process.memoryUsage(),
  });
  const server = await parts.start(
    'webserver',
    () =>
      startWebserver({
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
        manager: managerSite({ api: () => api ?? null, auth: () => auth, log: log.child('manager'), version: VERSION, events, uiDir: join(dirname(fileURLToPath(ctx.bundleUrl)), 'manager') }),
        health: async () => {
          const dbOk = await database.ping();
          const state = ctx.state();
          const ok = dbOk && state === 'running';
          const summary = ok ? 'ok' : state === 'running' ? 'degraded' : state;
          const { version, label, board, uptimeSeconds } = status();
          return { ok, body: { status: summary, version, label, board, db: dbOk ? 'ok' : 'down', uptimeSeconds } };
        },
      }),
    (w) => w.close(),
  );
  web = server;
  const certificates = new Certificates({
    store,
    dir: paths.tls,
    log: log.child('tls'),
    changed: async (prepared) => {
      await server.reloadCertificate(prepared.certFile, prepared.keyFile);
      monitor?.checkCertificate(prepared.chain);
    },
  });

  monitor = await parts.start(
    'monitoring',
    () =>
      startMonitor({
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
      }),
    async (m) => {
      m.stop();
      await m.alarms.flush();
    },
  );
  const alarms = monitor.alarms;
  wireStates({ config, pgData: paths.pgsql, database, instances, services: running, alarms, events, log });
  monitor.checkCertificate(certificate.chain);

  // Stopped after what starts jobs and before the database: running jobs are told, then awaited.
  const jobs = await parts.start(
    'jobs',
    () => {
      const made = new Jobs(log.child('jobs'), backupAlarm(() => alarms));
      // On p2 beside alarms.json, for the same reasons (see startMonitor).
      made.persistTo(join(paths.data, 'jobs.json'));
      return made;
    },
    async (j) => {
      await j.stop();
      await j.flush();
    },
  );
  wireJobs(jobs, events);
  let pgTools: string | null = null;
  const vacuumTarget = () => ({ bin: (pgTools ??= findPgTools(findPgBin(config.db.bin))), cluster: { socketDir: config.db.socketDir, port: config.db.port } });
  const analyse = await parts.start(
    'nightly analyse',
    () => {
      const made = new NightlyAnalyse({ settings: store, target: vacuumTarget, log: log.child('analyse') });
      made.start();
      return made;
    },
    (a) => a.stop(),
  );
  const backups = await parts.start(
    'backups',
    () =>
      new Backups({
        sql: database.sql,
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
          await certificates.reload();
        },
      }),
    // Running dumps end here: no pg_dump outlives the supervisor.
    (b) => b.stop(),
  );
  const backupSchedule = await parts.start(
    'backup schedule',
    () => {
      const made = new BackupSchedule({ backups, settings: store, log: log.child('backup') });
      made.start();
      return made;
    },
    (s) => s.stop(),
  );
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
  const table = new Api(
    [
      ...serviceRoutes(running, { logs: paths.appLogs, coreDumps: paths.coreDumps }, { jobs, workDir: paths.data, developerMode: async () => (await settingValue(store, 'developerMode')) === 'true' }),
      ...certificates.routes(),
      ...supervisorRoutes({ config, status, database, diagnostics: () => ({ sessions: auth.count, jobs: jobs.list().slice(0, 20), alarms: { active: alarms.active(), cleared: alarms.history().slice(0, 50) } }) }),
      ...systemRoutes({ rebootCommand: config.update.rebootCommand, shutdownCommand: config.update.shutdownCommand, passwdCommand: config.system.passwdCommand, log }),
      ...instanceRoutes(instances, { jobs, target: vacuumTarget, analyse }),
      ...backupRoutes(backups, backupSchedule, paths.data),
      ...jobRoutes(jobs),
      ...monitor.routes(),
      ...updateRoutes(updater, boot),
      ...settingRoutes(store, BACKUP_SETTINGS),
      ...storeRoutes(appStore),
    ],
    // AP_CHECK_RESPONSES=1 (every test supervisor): each answer is checked against its route's schema.
    { onChanged: (method, path) => events.publish({ type: 'changed', method, path }), checkResponses: process.env.AP_CHECK_RESPONSES === '1' },
  );
  api = table;
  await parts.start(
    'admin socket',
    () =>
      startAdminServer(
        paths.adminSocket,
        adminVerbs({
          status,
          services: running,
          api: table,
          auth,
          certificates,
          log,
          installPackage: (file, waitReady) =>
            installUpload(createReadStream(file) as AsyncIterable<Buffer>, paths.data, (dir) => running.install(dir, { waitReady }), { signal: new AbortController().signal, progress: () => {}, line: () => {} }),
          isFile: async (path) => (await stat(path).catch(() => null))?.isFile() ?? false,
        }),
        log.child('admin'),
      ),
    (admin) => admin.close(),
  );
  return { web: server, updater };
}
