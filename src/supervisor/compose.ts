// The composition root: builds the supervisor's parts in order, hands each what
// it needs, and registers each one's stop with `parts`, which stops them in
// exact reverse (docs/architecture.md, "Parts and their lifecycle"). What a
// part needs from one made later (instances tell the services, the webserver
// serves the API) goes through a getter named here.
import { existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api } from '../api';
import { ManagerAuth, workerHasher } from '../auth';
import { BackupKey, BackupRecords, Backups, BackupSchedule, boxLabel, macAddress } from '../backup';
import { bootControl } from '../boot';
import { LIMIT_FIELDS, openCgroups, resolveLimits } from '../cgroup';
import { Budget } from '../budget';
import { MIN_MAX_PAYLOAD } from '../channel';
import type { Config } from '../config';
import { clusterAccount, findPgBin, findPgTools, migrate, MIGRATIONS, openDatabase, settings, settingValue, stopLeftovers } from '../db';
import { fsyncDir } from '../fsutil';
import { Updater } from '../image';
import { Instances, NightlyAnalyse } from '../instances';
import { instanceId } from '../records';
import { Jobs } from '../jobs';
import type { Logger } from '../log';
import { ManagerEvents, managerSite } from '../manager';
import { isLoopback, liveFamilies, metricsAllowed, postmasterPid, startMonitor, type Monitor } from '../monitor';
import type { Notifier } from '../notify';
import { deletePackage, reconcilePackages, storePackage } from '../packages';
import { acquireLock, clearScratch, createLayout, ensureReserve, type Paths, type ReserveState } from '../paths';
import { DEFAULT_POLICY, serviceNodeFlags, startServices, uninstallCut, type Services } from '../services';
import { bundlePackage, SelfUpdate } from '../selfupdate';
import { AppStore, MAX_PACKAGE, storeArch } from '../store';
import { applyPromotion, commandRestart, completeSwap, fileSettings, finishSwap, readStandbyConf, refuseOnStandby, renderStandbyConf, restoreStandbySettings, Replication, runClusterCommand, ReplicationWatch, StandbyBox, StandbySwitch } from '../replication';
import { rebootPort } from '../system';
import { ApiTokens } from '../tokens';
import { Certificates, prepareCertificate } from '../tls';
import { BUILD_LABEL, VERSION } from '../version';
import { AccessLog, RouteTable, startWebserver, type Webserver } from '../webserver';
import { startAdminSocket } from './admin';
import type { Parts } from './parts';
import type { Status } from './routes';
import { apiRoutes } from './table';
import { backupFinished, wireJobs, wireStates } from './wiring';

export interface Composition {
  readonly web: Webserver;
  /** A freshly updated image is confirmed once it has been ready for a while. */
  readonly updater: Updater;
  /** A supervisor build on trial is confirmed once it is ready. */
  readonly selfUpdate: SelfUpdate;
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
  /** Started by init's respawn line (S92manager run): the supervisor may hand over to a new build of itself. */
  readonly respawned: boolean;
  /** Stops the supervisor the ordinary way, as a signal does. */
  readonly requestStop: (why: string) => void;
  /** Stops every part and composes again (a replication switch: standby, promotion). */
  readonly recompose: (why: string) => void;
}

/** Starts every part, in order; resolves once all are up. */
/**
 * A config file that declares instances holds their passwords: readable by
 * other accounts (each app service runs as one), it gives them away. Said at
 * every start; the file is the administrator's, so it is not changed.
 */
function warnReadableConfig(config: Config, log: Logger): void {
  if (!config.configFile || config.instances.length === 0) return;
  const mode = statSync(config.configFile, { throwIfNoEntry: false })?.mode;
  if (mode === undefined || (mode & 0o077) === 0) return;
  log.warn(`${config.configFile} declares instances with their passwords and other accounts can read it (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${config.configFile}`);
}

export async function compose(ctx: Context): Promise<Composition> {
  const { config, paths, parts, log, notify } = ctx;
  const lock = await acquireLock(paths);
  parts.onStop('state lock', () => lock.release());
  await createLayout(paths);
  const scratch = await clearScratch(paths);
  if (scratch.length) log.info(`removed what an interrupted run left on p2: ${scratch.join(', ')}`);
  warnReadableConfig(config, log);
  // Replication: a decided switch to standby is finished while the cluster is down; standby.conf says what this box is.
  const replicationLog = log.child('replication');
  // Attached: the init script stops the old cluster before its folder moves and starts the copy after (an idempotent start: a cut after it repeats it).
  const attached = config.db.mode === 'attached';
  const swapped = await finishSwap(paths, replicationLog, (dataDir) => (attached ? runClusterCommand(config.db.stopCommand, '--pg-stop-command') : stopLeftovers(dataDir, log.child('db'))));
  if (swapped === 'swapped' && attached) {
    replicationLog.info(`starting the standby's cluster: ${config.db.startCommand.join(' ')}`);
    await runClusterCommand(config.db.startCommand, '--pg-start-command');
  }
  const standbyConf = await readStandbyConf(paths.standbyConf, replicationLog);
  const recovering = existsSync(join(paths.pgsql, 'standby.signal'));
  const standby = standbyConf !== null && standbyConf.promote === undefined && recovering ? standbyConf : null;
  // A standby's cluster without its standby.conf (malformed, set aside): the box starts as an ordinary one, on a database it cannot write.
  const orphaned = standbyConf === null && recovering;
  if (orphaned) replicationLog.warn(`the cluster is a standby (standby.signal) but there is no valid ${paths.standbyConf}: starting read-only, not as a standby; set this box up again (ap ctl replication standby …)`);
  // standby.conf beside a cluster that is not a standby (any more): a promotion that a stop or a crash cut short.
  const promoted = standbyConf !== null && standby === null ? standbyConf : null;
  if (standby) log.info(`this box is a standby of ${standby.primary.host}:${standby.primary.port} (as ${standby.name}): read-only, its apps come from the primary`);

  notify.status('starting the database');
  // How long each stop may take. The shutdown timeout is shared by the slow
  // ones (app services and the database a third each, jobs and a change to
  // the instances a sixth each); the rest hold timers and sockets, and at
  // most write a small file (an fsync on a busy flash card can take seconds).
  const share = (part: number) => ({ stopWithinMs: Math.max(1000, Math.floor(config.shutdownTimeoutMs * part)) });
  const quick = { stopWithinMs: 5000 };
  const database = await parts.start('database', () => openDatabase(config, paths, log.child('db'), MIGRATIONS, { readOnly: standby !== null || orphaned }), { stopWithinMs: share(1 / 3).stopWithinMs + 2000 });
  if (standby) {
    const [row] = await database.sql<{ recovering: boolean }[]>`SELECT pg_is_in_recovery() AS recovering`;
    if (row?.recovering) await completeSwap(paths, replicationLog);
    else replicationLog.error('standby.conf and standby.signal are here but PostgreSQL is not in recovery: check its log');
  }
  if (promoted) await applyPromotion(database.sql, promoted, replicationLog);
  const reserve: ReserveState = await ensureReserve(paths, config.reserveBytes);
  if (reserve === 'no-space') log.warn(`not enough free space on ${paths.data} for the ${config.reserveBytes}-byte reserve file; will retry at the next start`);
  const fileStore = standby ? fileSettings(paths.standbyConf, standby) : null;
  const store = fileStore ?? settings(database.sql);
  const auth = await parts.start(
    'Manager login',
    async () => {
      const made = new ManagerAuth({ settings: store, hasher: await workerHasher(ctx.bundleUrl), log: log.child('manager') });
      await made.start();
      return made;
    },
    quick,
  );
  // On a standby the database is the primary's: its tokens work here, their last use is not written.
  const tokens = new ApiTokens({ sql: database.sql, readOnly: standby !== null || orphaned, throttle: auth, log: log.child('manager') });
  const events = await parts.start('Manager events', () => new ManagerEvents(auth, log.child('manager')), quick);
  auth.onSessionsEnded(() => events.sweep());
  const certificate = await prepareCertificate(store, paths.tls, log.child('tls'));
  // What a switch to standby takes with it and needs (the services and instances are made below).
  let instancesMade: Instances | undefined;
  const switcher = new StandbySwitch({
    paths,
    pgBin: () => findPgTools(findPgBin(config.db.bin)),
    owner: clusterAccount(),
    port: config.db.port,
    settings: async () =>
      fileStore
        ? { ...fileStore.current().settings }
        : Object.fromEntries((await database.sql<{ name: string; value: string }[]>`SELECT name, value FROM config WHERE name <> 'replicationMode'`).map((r) => [r.name, r.value])),
    localApps: () => ({ services: services?.list().map((s) => s.name) ?? [], instances: instancesMade?.list().map((i) => `${i.name}@${i.domain}`) ?? [] }),
    recompose: ctx.recompose,
    log: replicationLog,
  });
  // Before the instances and services: bringing PostgreSQL to the stored replication mode may restart it.
  const replication: Replication | StandbyBox = await parts.start(
    'replication',
    async () =>
      standby
        ? new StandbyBox({ sql: database.sql, conf: () => fileStore!.current(), switcher, paths, port: config.db.port, recompose: ctx.recompose, log: replicationLog })
        : Replication.open({
            sql: database.sql,
            settings: store,
            dataDir: paths.pgsql,
            owner: clusterAccount(),
            listen: config.db.listen,
            port: config.db.port,
            tls: certificate.chain,
            restartCluster:
              config.db.mode === 'managed'
                ? async (why) => void (await database.restart(why))
                : commandRestart(config.db.restartCommand, database.sql, log.child('replication')),
            log: replicationLog,
            standby: (request, confirm) => switcher.setUp(request, confirm),
            orphaned,
          }),
    quick,
  );
  // The promotion is done once the database holds the settings and the files are in the new mode: standby.conf goes last.
  if (promoted) {
    await rm(paths.standbyConf, { force: true });
    // Made durable: a standby.conf that came back after a power cut would promote again, its settings over those changed since.
    await fsyncDir(dirname(paths.standbyConf));
    replicationLog.info(`promotion finished: standby.conf removed; replication ${promoted.promote ?? 'off'}`);
  }

  // Instances live in the manager database; those declared in the config file are created when missing.
  notify.status('loading app instances');
  let services: Services | undefined;
  let web: Webserver | undefined;
  // Admission control asks it from the services' install; made once services and instances exist.
  let budget: Budget | undefined;
  // Made before the instances, whose every change drops the records of those gone; written last at a stop (after the jobs end).
  const backupRecords = BackupRecords.persisted(join(paths.data, 'backups.json'), (message) => log.child('backup').error(message));
  parts.onStop('backup records', () => backupRecords.flush(), quick);
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
        // Published as data; checked by the webserver's rules here, so a bad one fails the change that made it.
        checkRoutes: (list) => void new RouteTable(list),
        closeConnections: (id, code, reason) => void web?.closeInstance(id, code, reason),
        // Each instance adds to its service's memory limit.
        changed: () => {
          for (const s of services?.list() ?? []) services!.instancesChanged(s.name);
          if (instancesMade) backupRecords.keepOnly(instancesMade.list().map(instanceId));
        },
        readOnly: standby !== null,
      },
      // A standby's database is read-only: declared instances are made on the primary.
      standby ? [] : config.instances.map(({ maxBodyBytes, ...declared }) => ({ ...declared, ...(maxBodyBytes === null ? {} : { maxBodyBytes }) })),
    ),
    // A change under way (a database made or dropped) finishes.
    share(1 / 6),
  );

  notify.status('starting app services');
  const serviceStopMs = share(1 / 3).stopWithinMs;
  const running = await parts.start(
    'app services',
    () =>
      startServices({
        paths,
        log,
        logMaxBytes: config.services.logMaxBytes,
        startTimeoutMs: 30_000,
        stopTimeoutMs: serviceStopMs,
        maxPayload: Math.max(config.ws.maxPayloadBytes, MIN_MAX_PAYLOAD),
        ownUser: config.services.ownUser,
        appSecurityDisabled: async () => (await settingValue(store, 'disableAppSecurity')) === 'true',
        nodeFlags: serviceNodeFlags(config.board.nodeFlags),
        policy: {
          ...DEFAULT_POLICY,
          minDelayMs: config.services.restartDelayMs,
          maxDelayMs: Math.max(DEFAULT_POLICY.maxDelayMs, config.services.restartDelayMs),
          maxDeaths: config.services.restartLimit,
          windowMs: config.services.restartWindowMs,
        },
        instancesOf: (service) => instances.startMessages(service),
        cgroups: openCgroups({ root: config.root, log: log.child('cgroup') }),
        serviceLimits: config.board.serviceLimits,
        instanceCount: (service) => instances.list().filter((i) => i.service === service).length,
        admit: async (manifest, force) => (budget ? budget.install(manifest.name, manifest.resources, force) : null),
        storePackage: async (dir, manifest) => void (await storePackage(database.sql, dir, manifest, { maxBytes: MAX_PACKAGE })),
        dormant: standby !== null,
        instanceIds: (service) => instances.list().filter((i) => i.service === service).map(instanceId),
        deleteInstances: async (service, dropDatabase) => {
          for (const i of instances.list().filter((x) => x.service === service)) await instances.delete(instanceId(i), { dropDatabase });
        },
        deletePackage: async (service) => void (await deletePackage(database.sql, service)),
        uninstallCut: uninstallCut(process.env.AP_TEST_UNINSTALL_CUT),
      }),
    // Each is asked, then killed after its stop timeout, all in parallel.
    { stopWithinMs: serviceStopMs + 2000 },
  );
  services = running;
  instancesMade = instances;
  backupRecords.keepOnly(instances.list().map(instanceId));
  // The manager database says which packages the box runs (a new box, a restored backup): bring the services in line.
  const packagesLog = log.child('packages');
  const reconcile = () =>
    reconcilePackages({
      sql: database.sql,
      apps: paths.apps,
      scratch: paths.data,
      maxBytes: MAX_PACKAGE,
      log: packagesLog,
      installed: () => running.list().map((s) => ({ name: s.name, version: s.version, label: s.label })),
      ignore: (service) => running.uninstalling(service),
      // A standby's database is its primary's: what left it was uninstalled there.
      ...(standby ? { remove: (service: string) => running.followUninstall(service) } : {}),
      // They ran on this box before: the budget's refusal would only keep them away, so it warns.
      install: (dir) => running.install(dir, { stored: true, force: true, onWarning: (text) => packagesLog.warn(text) }),
    });
  // Before the packages: an uninstall a kill cut off must not be undone from the database.
  await running.finishUninstalls();
  await reconcile().catch((err: unknown) => packagesLog.error(`bringing the services in line with the manager database failed: ${(err as Error).message}`));
  if (standby) {
    // The primary installs more: its packages arrive by replication and are installed here (not started);
    // its instances too, listed as they are there (a backup here finds a new one).
    let polling = false;
    const poll = setInterval(() => {
      if (polling) return;
      polling = true;
      reconcile()
        .catch((err: unknown) => packagesLog.error(`installing the primary's packages failed: ${(err as Error).message}`))
        .then(() => instances.relist())
        .catch((err: unknown) => log.child('instances').error(`reading the primary's instances failed: ${(err as Error).message}`))
        .finally(() => (polling = false));
    }, 30_000);
    poll.unref();
    parts.onStop('standby package poll', () => clearInterval(poll));
  }

  // The memory budget's sources, all here (docs/budget.md): each service's
  // limits in force and its cgroup's usage (the PSS of its process group where
  // it has no cgroup), PostgreSQL's processes and connections.
  budget = new Budget({
    ramMB: config.board.ramMB,
    totalMB: config.memoryBudgetMB,
    log: log.child('budget'),
    sources: {
      services: () =>
        running.list().map((s) => ({
          name: s.name,
          state: s.state,
          pid: s.pid,
          instances: instances.list().filter((i) => i.service === s.name && i.phase !== 'deleting' && i.wanted === 'running').length,
          limits: s.limits,
          usage: s.usage ? { memoryBytes: s.usage.memoryBytes, memoryPeakBytes: s.usage.memoryPeakBytes ?? s.usage.memoryBytes } : null,
        })),
      postmaster: () => postmasterPid(paths.pgsql),
      backends: async () =>
        (await database.sql<{ pid: number; own: boolean }[]>`select pid, application_name = 'ap-supervisor' as own from pg_stat_activity where backend_type = 'client backend'`).map((r) => ({ pid: r.pid, own: r.own })),
      // A package being installed: the administrator's setting for it, else what its app.json declares, else the board's.
      limits: (name, declared) => {
        const now = running.get(name) ? running.limitsOf(name) : null;
        const setting = now ? Object.fromEntries(LIMIT_FIELDS.filter((f) => now.source[f] === 'setting').map((f) => [f, now[f]])) : {};
        return resolveLimits(setting, declared, config.board.serviceLimits);
      },
    },
  });

  const boot = bootControl(config.board, paths.boot);
  // A box's supervisor is a package: its build is what it reports (docs/update.md).
  const bundleDir = dirname(fileURLToPath(ctx.bundleUrl));
  const own = bundlePackage(bundleDir);
  const reported = { version: own?.version ?? VERSION, label: own?.build ?? BUILD_LABEL };
  let api: Api | undefined;
  let monitor: Monitor | undefined;
  let selfUpdate: SelfUpdate | undefined;
  const status = (): Status => ({
    state: ctx.state(),
    pid: process.pid,
    version: reported.version,
    label: reported.label,
    board: config.board.name,
    root: config.root,
    startedAt: ctx.startedAt.toISOString(),
    uptimeSeconds: Math.floor((Date.now() - ctx.startedAt.getTime()) / 1000),
    http: { host: config.http.host, port: web?.httpPort ?? null, httpsPort: web?.httpsPort ?? null, managerPort: web?.managerHttpPort ?? null, managerHttpsPort: web?.managerHttpsPort ?? null },
    db: { mode: config.db.mode, socketDir: config.db.socketDir, port: config.db.port, schemaVersion: database.schemaVersion, ...database.health() },
    reserve,
    ...(selfUpdate?.failedText ? { updateFailed: selfUpdate.failedText } : {}),
    services: running.list(),
    memory: process.memoryUsage(),
  });
  // Read again every few seconds: the setting may change through the API, a Manager restore or the config table by hand.
  const accessLog = await parts.start(
    'access log',
    async () => {
      const access = new AccessLog(join(paths.log, 'access.log'));
      const follow = async () => access.set((await settingValue(store, 'accessLog').catch(() => 'off')) === 'on');
      await follow();
      const timer = setInterval(() => void follow(), 5000);
      timer.unref();
      return Object.assign(access, {
        stop: async () => {
          clearInterval(timer);
          access.close();
        },
      });
    },
    quick,
  );
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
        routes: () => instances.routes,
        upstreams: { get: (name) => running.get(name), onState: (listener) => running.onState(listener), restarting: (name) => running.restarting(name) },
        log: log.child('web'),
        accessLog,
        metrics: () =>
          monitor?.metrics.prometheus(
            liveFamilies({
              build: { version: reported.version, label: reported.label, board: config.board.name },
              services: () => running.list(),
              instances: () => instances.list().map((i) => ({ id: instanceId(i), service: i.service, running: instances.state(i) === 'running', excludeFromBackup: i.excludeFromBackup })),
              alarms: () => monitor?.alarms.active() ?? [],
              backups: () => backupRecords.list(),
            }),
          ) ?? null,
        // The box itself without a query; an API token that may (the administrator's explicit grant); others as the metricsAccess setting says.
        metricsAllowed: async (remote, authorization) =>
          isLoopback(remote) ||
          (await tokens.allowsMetrics(authorization, remote)) ||
          metricsAllowed(remote, authorization, await settingValue(store, 'metricsAccess'), await settingValue(store, 'metricsToken')),
        boot: () => boot.read() as unknown as Promise<Record<string, unknown>>,
        ramdiskLog: paths.ramdiskLog,
        manager: managerSite({ api: () => api ?? null, auth: () => auth, tokens: () => tokens, log: log.child('manager'), version: reported.version, events, uiDir: join(dirname(fileURLToPath(ctx.bundleUrl)), 'manager') }),
        health: async () => {
          const dbOk = await database.ping();
          const state = ctx.state();
          const ok = dbOk && state === 'running';
          const summary = ok ? 'ok' : state === 'running' ? 'degraded' : state;
          const { version, label, board, uptimeSeconds } = status();
          return { ok, body: { status: summary, version, label, board, db: dbOk ? 'ok' : 'down', uptimeSeconds } };
        },
      }),
    quick,
  );
  web = server;
  monitor = await parts.start(
    'monitoring',
    () =>
      startMonitor({
        settings: store,
        paths,
        log: log.child('monitor'),
        reserveBytes: config.reserveBytes,
        intervalMs: config.monitorIntervalMs,
        label: reported.label,
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
    quick,
  );
  const alarms = monitor.alarms;
  const certificates = new Certificates({
    store,
    dir: paths.tls,
    log: log.child('tls'),
    changed: async (prepared) => {
      await server.reloadCertificate(prepared.certFile, prepared.keyFile);
      await replication.certificateChanged(prepared.chain);
      monitor.checkCertificate(prepared.chain);
    },
  });

  // Watches the standbys while primary, or the link to the primary on a standby (docs/replication.md, "Watching").
  const replicationWatch = await parts.start(
    'replication watch',
    () => {
      const made = new ReplicationWatch({
        sql: database.sql,
        log: log.child('replication'),
        alarms,
        mail: (mail) => monitor.mailer.send(mail),
        metrics: monitor.metrics,
        ...(standby
          ? { role: 'standby' as const }
          : { role: 'primary' as const, enabled: async () => !orphaned && (await settingValue(store, 'replicationMode')) === 'primary', walPartition: paths.pgsql }),
      });
      made.start(config.monitorIntervalMs);
      return made;
    },
    quick,
  );

  wireStates({ config, pgData: paths.pgsql, database, instances, services: running, alarms, events, log });
  monitor.checkCertificate(certificate.chain);

  // Stopped after what starts jobs and before the database: running jobs are told, then awaited.
  const jobs = await parts.start(
    'jobs',
    () => {
      const made = new Jobs(log.child('jobs'), backupFinished(() => alarms, backupRecords));
      // On p2 beside alarms.json, for the same reasons (see startMonitor).
      made.persistTo(join(paths.data, 'jobs.json'));
      return made;
    },
    // A cancelled job ends its subprocesses (pg_dump, pg_restore) at once; a restore may roll back first.
    share(1 / 6),
  );
  wireJobs(jobs, events);
  let pgTools: string | null = null;
  const vacuumTarget = () => ({ bin: (pgTools ??= findPgTools(findPgBin(config.db.bin))), cluster: { socketDir: config.db.socketDir, port: config.db.port } });
  const analyse = await parts.start(
    'nightly analyse',
    () => {
      const made = new NightlyAnalyse({ settings: store, target: vacuumTarget, log: log.child('analyse') });
      // A standby cannot ANALYZE (its database is in recovery); the primary's statistics arrive by replication.
      if (!standby) made.start();
      return made;
    },
    quick,
  );
  const backups = await parts.start(
    'backups',
    () =>
      new Backups({
        key: new BackupKey(paths.backupKey, log.child('backup')),
        records: backupRecords,
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
        supervisor: reported,
        boxLabel: () => boxLabel(join(paths.boot, 'label'), BUILD_LABEL),
        mac: () => macAddress(),
        schemaVersion: () => database.schemaVersion,
        latestSchema: MIGRATIONS.at(-1)!.version,
        stallMs: config.backup.stallTimeoutMs,
        ...(fileStore ? { standbyConf: () => renderStandbyConf(fileStore.current()) } : {}),
        afterManagerRestore: async () => {
          await migrate(database.sql, MIGRATIONS, log.child('db'));
          await instances.reload();
          await certificates.reload();
          await reconcile();
          await replication.reconcile();
        },
      }),
    // Running dumps end here: no pg_dump outlives the supervisor.
    quick,
  );
  const backupSchedule = await parts.start(
    'backup schedule',
    () => {
      const made = new BackupSchedule({ backups, settings: store, log: log.child('backup') });
      made.start();
      return made;
    },
    quick,
  );
  const updater = new Updater({
    bootDir: paths.boot,
    board: config.board,
    boot,
    jobs,
    log: log.child('update'),
    storeUrl: () => settingValue(store, 'appStoreUrl'),
    keysDir: config.update.keysDir,
    reboot: rebootPort(config.update.rebootCommand, log.child('update'), 'the staged image is applied at the next reboot', (text) => alarms.raise('update', 'REBOOT_FAILED', 'major', text)),
    report: ({ ok, text }) => {
      alarms.clear('update', 'REBOOT_FAILED'); // confirmed or rolled back: the box did reboot
      if (ok) alarms.clear('update', 'UPDATE_FAILED');
      else alarms.raise('update', 'UPDATE_FAILED', 'major', text);
    },
  });
  const appStore = new AppStore({
    storeUrl: () => settingValue(store, 'appStoreUrl'),
    keysDir: config.update.keysDir,
    arch: storeArch(config.board.arch),
    workDir: paths.data,
    jobs,
    install: (dir, how) => running.install(dir, how),
    installed: (name) => {
      const s = running.get(name)?.status();
      return s ? { version: s.version, label: s.label } : null;
    },
  });
  selfUpdate = new SelfUpdate({
    apps: paths.apps,
    bundleDir,
    respawned: ctx.respawned,
    running: { version: reported.version, build: own?.build ?? null },
    storeUrl: () => settingValue(store, 'appStoreUrl'),
    keysDir: config.update.keysDir,
    arch: storeArch(config.board.arch),
    jobs,
    log: log.child('update'),
    alarms,
    handOver: (why) => ctx.requestStop(why),
  });
  await selfUpdate.atStart();
  const routes = apiRoutes({
      config,
      paths,
      log,
      settings: store,
      status,
      diagnostics: () => ({ sessions: auth.count, jobs: jobs.list().slice(0, 20), alarms: { active: alarms.active(), cleared: alarms.history().slice(0, 50) } }),
      database,
      auth,
      tokens,
      instances,
      services: running,
      certificates,
      monitor,
      jobs,
      analyse,
      vacuumTarget,
      backups,
      backupSchedule,
      updater,
      boot,
      appStore,
      selfUpdate,
      budget,
      replication,
      replicationWatch,
    });
  // Every change through the API, with who made it (what the Manager, tokens and ap ctl changed).
  const changes = log.child('changes');
  const table = new Api(
    standby
      ? refuseOnStandby(routes, standby.primary, {
          uploadDir: paths.data,
          conf: async (file) => {
            const { text, createdAt } = await backups.standbyConfIn(file);
            const settings = await restoreStandbySettings(text, fileStore!, replicationLog);
            ctx.recompose('a restored standby.conf');
            return { restored: 'standby.conf', from: createdAt, settings };
          },
        })
      : routes,
    // AP_CHECK_RESPONSES=1 (every test supervisor): each answer is checked against its route's schema.
    {
      onChanged: (method, path, actor, note) => {
        changes.info(`${method} ${path}${note ? ` (${note})` : ''} by ${actor}`);
        events.publish({ type: 'changed', method, path });
      },
      checkResponses: process.env.AP_CHECK_RESPONSES === '1',
    },
  );
  api = table;
  await parts.start(
    'admin socket',
    () => startAdminSocket(paths.adminSocket, table, log),
    quick,
  );
  return { web: server, updater, selfUpdate };
}
