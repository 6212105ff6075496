// App services: the packages in mnt/sda2/apps/<name>/ (each with its app.json)
// and one supervised child process per service. Installing copies a folder in
// whole or not at all; every installed service is kept running, restarted with
// backoff when it dies, and marked failed when it keeps dying. When we are
// root no service runs as root: each runs as an account we made for it
// (accounts.ts), its package root-owned and read-only, its data and log
// folders its own. A stop by a person and a failure survive our restart.
// Every install also writes the package into the manager database (through
// the storePackage port, src/packages) or fails whole.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, cp, lstat, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LIMIT_FIELDS, LIMIT_RANGES, memoryLimitMB, resolveLimits, type Cgroups, type EffectiveLimits, type ServiceLimits } from '../cgroup';
import { ApError, describe as describeError, InvalidField, levelOf } from '../errors';
import { ensureDir, fsyncDir, fsyncTree } from '../fsutil';
import type { Logger } from '../log';
import type { Paths } from '../paths';
import type { WebContent, WebFile } from '../webserver';
import { DEFAULT_POLICY, type Policy, type State } from '../supervision';
import { checkEntry, readManifest, type Manifest } from './manifest';
import { readTail } from './tail';
import { Accounts, type Account } from './accounts';
import { ServiceProcess, type ServiceGroup, type ServiceStatus } from './process';
import type { LimitsView } from './views';
import { Records } from './records';
import { sweep } from './sweep';
import { Intents, type UninstallCut, type UninstallOptions } from './uninstall';

export { DEFAULT_POLICY, type Policy, type State } from '../supervision';
export { MANIFEST_FILE, readManifest, validateManifest, ManifestError, type Manifest } from './manifest';
export { ServiceProcess, type ServiceStatus, type StreamHandler } from './process';
export { uninstallCut, type UninstallCut, type UninstallOptions } from './uninstall';

/**
 * The Node flags of a board that its Node services run with too: a service's
 * heap size is its own business, but the box's young-generation size and when
 * V8 starts optimising (start-up code never pulls in the optimiser) are the board's.
 */
export function serviceNodeFlags(boardFlags: readonly string[]): string[] {
  return boardFlags.filter((flag) => flag.startsWith('--max-semi-space-size=') || flag.startsWith('--interrupt-budget='));
}

export interface ServicesOptions {
  readonly paths: Paths;
  readonly log: Logger;
  readonly policy?: Policy;
  readonly logMaxBytes: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly maxPayload: number;
  /** Node.js flags for services whose entry is "node". */
  readonly nodeFlags: readonly string[];
  /**
   * Run each service as an account made for it. When we are root and this is
   * false (the unsafe debugging flag), services run as root; config refuses
   * that without the flag.
   */
  readonly ownUser: boolean;
  /** The Disable App security setting: service accounts get a login shell. */
  readonly appSecurityDisabled?: () => Promise<boolean>;
  /** Instances of a service, sent to it as instance.start when it is ready. */
  readonly instancesOf: (service: string) => readonly Record<string, unknown>[];
  /** The services' cgroups, or null when they run without limits. */
  readonly cgroups?: Cgroups | null;
  /** The board's limits for a service that declares none. */
  readonly serviceLimits: ServiceLimits;
  /** How many instances a service has (each adds its instanceMB to the memory limit). */
  readonly instanceCount: (service: string) => number;
  /**
   * Admission control (the memory budget): throws MEMORY_BUDGET when the
   * package does not fit, unless forced; answers the warning of a forced one.
   * Asked before anything is copied.
   */
  readonly admit?: (manifest: Manifest, force: boolean) => Promise<string | null>;
  /**
   * Writes a package into the manager database (src/packages) in one
   * transaction, once it is copied and sealed and before the old version
   * stops; when it fails the install fails and the old version stays.
   */
  readonly storePackage?: (dir: string, manifest: Manifest) => Promise<void>;
  /** A replication standby: services are installed (from the primary's packages) but never started. */
  readonly dormant?: boolean;
  /** The ids of a service's instances (an uninstall is refused while there are any, unless it deletes them). */
  readonly instanceIds?: (service: string) => readonly string[];
  /** Deletes every instance of a service (an uninstall's step); drops their databases only when told. */
  readonly deleteInstances?: (service: string, dropDatabases: boolean) => Promise<void>;
  /** Removes a service's package from the manager database (an uninstall's step); none there is fine. */
  readonly deletePackage?: (service: string) => Promise<void>;
  /** Tests only (AP_TEST_UNINSTALL_CUT): the supervisor kills itself with SIGKILL after this step of an uninstall. */
  readonly uninstallCut?: UninstallCut | null;
}

export interface InstallOptions {
  /** Wait until it reports ready (see Services.install). */
  readonly waitReady?: boolean;
  /** Install even when the memory budget says it does not fit. */
  readonly force?: boolean;
  /** Told the warning of a forced admission. */
  readonly onWarning?: (text: string) => void;
  /** The package comes from the manager database: it is not written there again. */
  readonly stored?: boolean;
}

/** A change of the limits setting: a number sets a field, null goes back to the package's or the board's value. */
export type LimitsChange = { readonly [K in keyof ServiceLimits]?: number | null };

/** What the kernel did to a service, or that it has run stably since. */
export type HealthEvent = { readonly type: 'out-of-memory'; readonly limitMB: number } | { readonly type: 'stable' };

export interface Services {
  get(name: string): ServiceProcess | undefined;
  /** Calls `listener` on every state change of any service. */
  onState(listener: (service: string, state: State) => void): void;
  list(): ServiceStatus[];
  /**
   * Copies the package folder `dir` in (replacing an older version) and starts
   * it. With `waitReady`, also waits until it reports ready, at most its start
   * timeout: one that exits or stays silent before is stopped, and the install
   * fails with SERVICE_NOT_READY and the end of its log.
   */
  install(dir: string, options?: InstallOptions): Promise<Manifest>;
  /** Starts a service by hand: also out of failed, and forgets a remembered stop. */
  startService(name: string): void;
  /** Stops a service by hand: it stays stopped across our restarts until started. */
  stopService(name: string): Promise<void>;
  /** Stops a service and starts it again; its clients wait for the new process (restarting). */
  restartService(name: string): Promise<void>;
  /** `name` is being restarted or updated: a stop now is not the end for its clients. */
  restarting(name: string): boolean;
  /** Stops a service for now (the disk guard): the next start of the supervisor starts it. */
  pause(name: string): Promise<void>;
  /** Starts a service `pause` stopped, unless a person stopped it meanwhile. */
  resume(name: string): void;
  /** Removes a service's account and data folder (for an uninstall; an install that fails undoes its own). */
  removeAccount(name: string): Promise<void>;
  /**
   * Throws what an uninstall of `name` would be refused with (NOT_FOUND,
   * SERVICE_NAME_RESERVED for the supervisor's own package, HAS_INSTANCES,
   * NOT_ON_STANDBY, CONFLICT while one runs); changes nothing.
   */
  checkUninstall(name: string, how: UninstallOptions): void;
  /**
   * Uninstalls a service: the decision is written first, then it is stopped,
   * its instances deleted as asked, its package removed from the manager
   * database and the disk, its cgroup, account and data folder, and its logs
   * unless kept. Answers what was done.
   */
  uninstall(name: string, how: UninstallOptions, progress?: (note: string) => void): Promise<string>;
  /** Finishes the uninstalls a killed supervisor left (before the packages are brought in line with the database). */
  finishUninstalls(): Promise<void>;
  /** A standby: the primary uninstalled `name`; it goes here too, writing nothing into the database. */
  followUninstall(name: string): Promise<void>;
  /** True while an uninstall of `name` is decided and not done: its stored package must not bring it back. */
  uninstalling(name: string): boolean;
  /** A service's limits in effect, with the memory limit in force (its instances counted). */
  limitsOf(name: string): LimitsView;
  /** Changes the limits setting of a service (kept across restarts) and applies it at once. */
  setLimits(name: string, change: LimitsChange): Promise<LimitsView>;
  /** A service's instances were created or deleted: its memory limit follows at once. */
  instancesChanged(name: string): void;
  /** Calls `listener` when the kernel kills a service at its memory limit, and when it has run stably after. */
  onHealth(listener: (service: string, event: HealthEvent) => void): void;
  /** The supervisor stops: every service, in parallel (none is remembered as stopped). */
  stop(): Promise<void>;
}

/** Loads the installed services and starts them. */
export async function startServices(options: ServicesOptions): Promise<Services> {
  const { paths, log } = options;
  const running = new Map<string, ServiceProcess>();
  const listeners: ((service: string, state: State) => void)[] = [];
  /** Services being restarted or updated on purpose (restartService, an install over an older version). */
  const restarting = new Set<string>();
  const wrapper = deathSignalWrapper();
  if (!wrapper) log.warn('setpriv with --pdeathsig is missing: services outlive a killed supervisor unless they watch their channel');
  const root = process.getuid?.() === 0;
  const records = Records.load(join(paths.data, 'services.json'), log);
  const intents = Intents.load(join(paths.data, 'uninstalling.json'), log);
  const accounts = new Accounts({ log, recorded: () => records.accounts(), record: (name, uid) => records.setAccount(name, uid) });
  const useAccounts = root && options.ownUser;
  if (!root) log.info(`not root: app services run as this user (uid ${process.getuid?.()}), not as accounts of their own`);
  else if (!options.ownUser) log.warn('UNSAFE: app services run as root (--unsafe-services-as-root); for debugging only');
  const dataDir = (name: string) => join(paths.data, 'appdata', name);
  const cgroups = options.cgroups ?? null;
  if (cgroups) log.info(`app services run in their own cgroups: ${cgroups.where}`);
  const healthListeners: ((service: string, event: HealthEvent) => void)[] = [];

  const effective = (manifest: Manifest): EffectiveLimits => resolveLimits(records.limits(manifest.name), manifest.resources, options.serviceLimits);
  const viewOf = (manifest: Manifest): LimitsView => {
    const limits = effective(manifest);
    return { ...limits, memoryLimitMB: memoryLimitMB(limits, options.instanceCount(manifest.name)), enforced: cgroups !== null };
  };
  // What was last written per service, so that the instances' many changes rewrite only a limit that moved.
  const applied = new Map<string, string>();
  /** Writes the limits in force into the service's group (made when missing). */
  const applyLimits = (manifest: Manifest, always = false): void => {
    if (!cgroups) return;
    const view = viewOf(manifest);
    const limits = { memoryBytes: view.memoryLimitMB * 1024 * 1024, cpuWeight: view.cpuWeight, pids: view.pids };
    const key = JSON.stringify(limits);
    if (!always && applied.get(manifest.name) === key) return;
    applied.delete(manifest.name);
    cgroups.apply(manifest.name, limits);
    applied.set(manifest.name, key);
  };
  const groupOf = (manifest: Manifest): ServiceGroup | null =>
    cgroups && {
      prepare: () => applyLimits(manifest, true),
      join: (pid) => cgroups.join(manifest.name, pid),
      usage: () => cgroups.usage(manifest.name),
      oomKills: () => cgroups.oomKills(manifest.name),
    };

  /** The service's account (made when missing) with its data and log folders its own, or null when it runs as us. */
  const prepareAccount = async (name: string): Promise<Account | null> => {
    const logDir = join(paths.appLogs, name);
    await ensureDir(logDir);
    await ensureDir(join(paths.data, 'appdata'));
    await ensureDir(dataDir(name), 0o750);
    if (!useAccounts) return null;
    const login = (await options.appSecurityDisabled?.().catch(() => false)) ?? false;
    const account = await accounts.ensure(name, dataDir(name), login);
    await chownTree(dataDir(name), account.uid, account.gid);
    await chown(logDir, account.uid, account.gid);
    return account;
  };

  // Who waits for a service to leave "starting" (an install that waits for ready).
  const settling = new Map<string, Set<() => void>>();

  const create = async (manifest: Manifest): Promise<ServiceProcess> => {
    const logDir = join(paths.appLogs, manifest.name);
    const account = await prepareAccount(manifest.name);
    const web = manifest.web ? await indexWebFolder(join(paths.apps, manifest.name, manifest.web), manifest.label, log) : null;
    const held = records.held(manifest.name);
    const service = new ServiceProcess({
      manifest,
      dir: join(paths.apps, manifest.name),
      logDir,
      crashDir: join(paths.coreDumps, manifest.name),
      policy: options.policy ?? DEFAULT_POLICY,
      logMaxBytes: options.logMaxBytes,
      startTimeoutMs: options.startTimeoutMs,
      stopTimeoutMs: options.stopTimeoutMs,
      maxPayload: options.maxPayload,
      account,
      dataDir: dataDir(manifest.name),
      marker: `${paths.root}:${manifest.name}`,
      initial: held?.as === 'failed' ? { state: 'failed', deaths: [], attempt: 0, reason: `${held.reason} (before the supervisor restarted)` } : undefined,
      deathSignalWrapper: wrapper,
      nodeFlags: options.nodeFlags,
      instances: () => options.instancesOf(manifest.name),
      group: groupOf(manifest),
      limits: () => viewOf(manifest),
      onHealth: (event) => {
        for (const listener of healthListeners) listener(manifest.name, event);
      },
      web,
      log: log.child(`service ${manifest.name}`),
      onState: (state) => {
        // A restart or an update is over once the new process runs, or could not.
        if (state === 'running' || state === 'failed') restarting.delete(manifest.name);
        // A failure stays until a start by hand, across our restarts too.
        if (state === 'failed') void records.setHeld(manifest.name, { as: 'failed', reason: service.status().reason ?? 'it kept dying' });
        for (const listener of listeners) listener(manifest.name, state);
        for (const wake of [...(settling.get(manifest.name) ?? [])]) wake();
      },
    });
    return service;
  };

  /** Starts a loaded service unless it is held (stopped by a person, or failed) from before. */
  const startUnlessHeld = (service: ServiceProcess): void => {
    if (options.dormant) return;
    const held = records.held(service.name);
    // A start sweeps what an earlier run left (a killed supervisor's orphans); a held service must be swept here.
    if (held === null) return service.start();
    log.info(`${service.name} stays ${held.as === 'stopped' ? 'stopped (stopped by hand)' : 'failed'} until started by hand`);
    const leftovers = service.sweepLeftovers();
    if (leftovers > 0) log.warn(`killed ${leftovers} process(es) of ${service.name} left from an earlier run`);
  };

  await recoverInterruptedInstalls(paths.apps, log);
  for (const entry of await readdir(paths.apps, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    // The supervisor's own package and its update's folders (manager.new, manager.prev): S92manager's, not a service.
    if (entry.name === 'manager' || entry.name.startsWith('manager.')) continue;
    // Decided to go: never started again; finishUninstalls removes it.
    if (intents.has(entry.name)) continue;
    try {
      const manifest = await readManifest(join(paths.apps, entry.name));
      if (manifest.name !== entry.name) throw new ApError('MANIFEST_INVALID', `its app.json names it "${manifest.name}"`);
      if (useAccounts) {
        accounts.check(manifest.name);
        // Packages an older supervisor installed may still be writable by their service.
        await sealPackage(join(paths.apps, entry.name), true).catch((err) => log.warn(`cannot make ${entry.name}'s package read-only: ${describeError(err)}`));
      }
      const service = await create(manifest);
      running.set(manifest.name, service);
      startUnlessHeld(service);
    } catch (err) {
      log[levelOf(err)](`skipping ${join(paths.apps, entry.name)}: ${(err as Error).message}`);
    }
  }

  if (cgroups) {
    // Groups of services that are gone (removed while we were down, or a test's leftovers).
    const gone = await cgroups.prune(new Set(running.keys()));
    if (gone.length) log.info(`removed the cgroups of services no longer installed: ${gone.join(', ')}`);
  }

  const need = (name: string): ServiceProcess => {
    const service = running.get(name);
    if (!service) throw new ApError('NOT_FOUND', `no service "${name}" is installed`);
    return service;
  };

  // One install at a time: two of the same service must not interleave their renames.
  let installing: Promise<unknown> = Promise.resolve();
  const install = async (dir: string, how: InstallOptions = {}): Promise<Manifest> => {
    const source = resolve(dir);
    if (!(await stat(source).catch(() => null))?.isDirectory()) throw new ApError('BAD_REQUEST', `${source} is not a folder`);
    if ((source + '/').startsWith(resolve(paths.apps) + '/')) throw new ApError('BAD_REQUEST', `${source} is inside ${paths.apps}`);
    const manifest = await readManifest(source);
    await checkEntry(source, manifest);
    if (intents.has(manifest.name)) throw new ApError('CONFLICT', `${manifest.name} is being uninstalled; install it again once that is done`);
    // Refused before anything is copied: a name whose account exists and is not ours.
    if (useAccounts) accounts.check(manifest.name);
    const warning = (await options.admit?.(manifest, how.force === true)) ?? null;
    if (warning !== null) how.onWarning?.(warning);
    const target = join(paths.apps, manifest.name);
    const staging = join(paths.apps, `.install-${manifest.name}-${randomBytes(4).toString('hex')}`);
    try {
      await cp(source, staging, { recursive: true, errorOnExist: true, force: false, verbatimSymlinks: true });
      await sealPackage(staging, root);
      await fsyncTree(staging);
      await fsyncDir(paths.apps);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw new ApError('INSTALL_FAILED', `copying ${source} failed; nothing was installed`, { cause: err });
    }
    const old = running.get(manifest.name);
    try {
      await prepareAccount(manifest.name);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      if (!old) await removeAccount(manifest.name);
      throw new ApError('INSTALL_FAILED', `${describeError(err)}; nothing was installed`, { cause: err });
    }
    if (options.storePackage && !how.stored) {
      try {
        await options.storePackage(staging, manifest);
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        if (!old) await removeAccount(manifest.name);
        if (err instanceof ApError && err.code === 'PACKAGE_TOO_LARGE') throw err;
        const kept = old ? `; ${manifest.name} ${old.manifest.version} stays installed` : '';
        throw new ApError('INSTALL_FAILED', `writing the package into the manager database failed (${describeError(err)}); nothing was installed${kept}`, { cause: err });
      }
    }
    try {
      if (old) {
        // An update: the clients of the old version wait for the new one, as across a restart.
        restarting.add(manifest.name);
        await old.stop();
        // The new version starts with a fresh group: its peak and OOM count are its own.
        if (cgroups && !(await cgroups.remove(manifest.name))) log.warn(`the cgroup of ${manifest.name}'s old version still holds processes; the new version shares it`);
      }
      const retired = join(paths.apps, `.old-${manifest.name}-${randomBytes(4).toString('hex')}`);
      if (await stat(target).catch(() => null)) await rename(target, retired);
      await rename(staging, target);
      await fsyncDir(paths.apps);
      await rm(retired, { recursive: true, force: true });
      const service = await create(manifest);
      running.set(manifest.name, service);
      await records.setHeld(manifest.name, null); // an install means: run it
      if (!options.dormant) service.start();
    } catch (err) {
      // The update did not get as far as the new process: its clients are told, not left waiting.
      if (restarting.delete(manifest.name)) for (const listener of listeners) listener(manifest.name, 'stopped');
      throw err;
    }
    if (options.dormant) restarting.delete(manifest.name);
    log.info(`installed ${manifest.name} ${manifest.version} from ${source}`);
    return manifest;
  };

  /**
   * Waits until `name` leaves "starting": the start timeout bounds it (the
   * state machine then kills the service), the stop timeout covers that kill.
   */
  const settled = (name: string): Promise<ServiceStatus> => {
    const service = need(name);
    return new Promise((resolve) => {
      let waiters = settling.get(name);
      if (!waiters) settling.set(name, (waiters = new Set()));
      const done = () => {
        if (service.status().state === 'starting' && !timedOut) return;
        clearTimeout(timer);
        waiters!.delete(done);
        resolve(service.status());
      };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        done();
      }, options.startTimeoutMs + options.stopTimeoutMs + 1000);
      waiters.add(done);
      done();
    });
  };

  const installReady = async (dir: string, how: InstallOptions): Promise<Manifest> => {
    const manifest = await install(dir, how);
    const status = await settled(manifest.name);
    if (status.state === 'running') return manifest;
    const why =
      status.state === 'starting'
        ? `it did not report ready within ${options.startTimeoutMs / 1000} s`
        : status.state === 'backing-off'
          ? 'it exited before it reported ready'
          : (status.reason ?? `it is ${status.state}`);
    restarting.delete(manifest.name); // stopped for good: its clients are closed
    await records.setHeld(manifest.name, { as: 'stopped' });
    await need(manifest.name).stop();
    const tail = await readTail(join(paths.appLogs, manifest.name, `${manifest.name}.log`), 2048).catch(() => ({ text: '' }));
    const lines = tail.text.trimEnd().split('\n').slice(-15).join('\n');
    log.warn(`${manifest.name} ${manifest.version} was installed but never got ready: ${why}; stopped`);
    throw new ApError(
      'SERVICE_NOT_READY',
      `${manifest.name} ${manifest.version} was installed but never got ready (${why}); it is stopped until it is installed again or started (ap ctl service start ${manifest.name}). ` +
        (lines ? `The end of its log:\n${lines}` : 'It wrote nothing to its log.'),
    );
  };

  /** The account and data folder go with the service (the log folder stays, for a technician). */
  async function removeAccount(name: string): Promise<void> {
    await rm(dataDir(name), { recursive: true, force: true });
    if (useAccounts) await accounts.remove(name);
    await cgroups?.remove(name);
  }

  const checkUninstall = (name: string, how: UninstallOptions): void => {
    if (name === 'manager' || name.startsWith('manager.')) throw new ApError('SERVICE_NAME_RESERVED', `"${name}" is the supervisor's own package: it is updated, never uninstalled`);
    if (intents.has(name)) throw new ApError('CONFLICT', `${name} is being uninstalled already`);
    need(name);
    if (options.dormant) throw new ApError('NOT_ON_STANDBY', `this box is a standby: its apps come from the primary; uninstall ${name} there`);
    const ids = options.instanceIds?.(name) ?? [];
    if (ids.length > 0 && how.instances !== true) {
      throw new ApError('HAS_INSTANCES', `${name} has ${ids.length} instance(s): ${ids.join(', ')}. Delete them first, or uninstall with instances (their databases are kept unless dropped too)`);
    }
  };

  /** Kills us where a test asked to (the power-cut tests): what is on disk now is all the next start finds. */
  const cutHere = (step: UninstallCut, name: string): void => {
    if (options.uninstallCut !== step) return;
    log.warn(`AP_TEST_UNINSTALL_CUT: killing the supervisor after step "${step}" of uninstalling ${name}`);
    process.kill(process.pid, 'SIGKILL');
  };

  /** The steps after the decision; each one is also right when it ran before (a start finishing a cut one). */
  const removeService = async (name: string, how: UninstallOptions, progress: (note: string) => void, cut: (step: UninstallCut, name: string) => void = () => {}): Promise<string> => {
    const service = running.get(name);
    if (service) {
      progress(`stopping ${name}`);
      // Its clients are closed (not waiting for a restart under way), and it is held as stopped first:
      // should the rest fail, the service does not come back at our next start either.
      restarting.delete(name);
      await records.setHeld(name, { as: 'stopped' });
      await service.stop();
    } else {
      // A cut uninstall: what the killed supervisor's service left would keep its account and cgroup busy.
      const left = sweep({ uid: useAccounts ? (records.accounts().get(name) ?? null) : null, marker: `${paths.root}:${name}` }, 'SIGKILL');
      if (left > 0) log.warn(`killed ${left} process(es) of ${name} left from an earlier run`);
    }
    cut('stopped', name);
    if (how.instances === true) {
      progress(`deleting the instances of ${name}`);
      await options.deleteInstances?.(name, how.dropDatabases === true);
    }
    cut('instances', name);
    running.delete(name);
    applied.delete(name);
    progress(`removing the package of ${name}`);
    if (how.local !== true) await options.deletePackage?.(name);
    cut('package', name);
    const folder = join(paths.apps, name);
    if (await lstat(folder).catch(() => null)) {
      // One rename takes it out whole: a start never loads a half-removed package.
      const removed = join(paths.apps, `.removed-${name}-${randomBytes(4).toString('hex')}`);
      await rename(folder, removed);
      await fsyncDir(paths.apps);
      await rm(removed, { recursive: true, force: true });
    }
    cut('folder', name);
    progress(`removing the account, cgroup and folders of ${name}`);
    await removeAccount(name);
    await records.setLimits(name, {});
    await records.setHeld(name, null);
    if (how.keepLogs !== true) {
      await rm(join(paths.appLogs, name), { recursive: true, force: true });
      await rm(join(paths.coreDumps, name), { recursive: true, force: true });
    }
    await intents.remove(name);
    const deleted = how.instances ? (how.dropDatabases ? ', its instances and their databases' : ', its instances (their databases kept)') : '';
    const done = `uninstalled ${name}${deleted}${how.keepLogs ? `; its logs are kept in ${join(paths.appLogs, name)}` : ''}`;
    log.info(done);
    return done;
  };

  const uninstall = (name: string, how: UninstallOptions, progress: (note: string) => void = () => {}): Promise<string> => {
    checkUninstall(name, how);
    // After installs under way, and before any that comes next: the two never interleave on one name.
    const next = installing.then(async () => {
      checkUninstall(name, how);
      await intents.add(name, how);
      cutHere('decided', name);
      return removeService(name, how, progress, cutHere);
    });
    installing = next.catch(() => {});
    return next;
  };

  /**
   * A standby: the primary uninstalled `name` (its package left the replicated
   * database), so it goes here too, as one decided job like an uninstall, with
   * no write to the read-only database and its instances left to replication.
   */
  const followUninstall = (name: string): Promise<void> => {
    const next = installing.then(async () => {
      if (!running.has(name) || intents.has(name)) return;
      const how: UninstallOptions = { local: true };
      await intents.add(name, how);
      await removeService(name, how, () => {});
    });
    installing = next.catch(() => {});
    return next;
  };

  const finishUninstalls = async (): Promise<void> => {
    for (const [name, how] of intents.pending()) {
      log.warn(`an uninstall of ${name} was interrupted; finishing it`);
      try {
        await removeService(name, how, () => {});
      } catch (err) {
        log.error(`finishing the uninstall of ${name} failed (tried again at the next start): ${describeError(err)}`);
      }
    }
  };

  return {
    get: (name) => running.get(name),
    onState: (listener) => void listeners.push(listener),
    list: () => [...running.values()].map((s) => s.status()),
    install(dir, installOptions) {
      const next = installing.then(() => (installOptions?.waitReady ? installReady(dir, installOptions) : install(dir, installOptions)));
      installing = next.catch(() => {});
      return next;
    },
    startService: (name) => {
      const service = need(name);
      void records.setHeld(name, null);
      service.start();
    },
    async stopService(name) {
      const service = need(name);
      restarting.delete(name);
      await records.setHeld(name, { as: 'stopped' });
      await service.stop();
    },
    async restartService(name) {
      const service = need(name);
      restarting.add(name);
      try {
        await service.stop();
      } catch (err) {
        restarting.delete(name);
        throw err;
      }
      await records.setHeld(name, null);
      // Stopped meanwhile by someone else (a stop by hand, an uninstall): not ours to start.
      if (restarting.has(name)) service.start();
    },
    restarting: (name) => restarting.has(name),
    pause: (name) => need(name).stop(),
    resume: (name) => {
      if (records.held(name) === null) need(name).start();
    },
    removeAccount: (name) => removeAccount(name),
    checkUninstall,
    uninstall,
    finishUninstalls,
    followUninstall,
    uninstalling: (name) => intents.has(name),
    limitsOf: (name) => viewOf(need(name).manifest),
    async setLimits(name, change) {
      const service = need(name);
      const next: Partial<Record<keyof ServiceLimits, number>> = { ...records.limits(name) };
      for (const [field, value] of Object.entries(change)) {
        if (!(LIMIT_FIELDS as readonly string[]).includes(field)) throw new InvalidField(field, `is not a limit (${LIMIT_FIELDS.join(', ')})`);
        const key = field as keyof ServiceLimits;
        const [min, max] = LIMIT_RANGES[key];
        if (value === null) delete next[key];
        else if (!Number.isInteger(value) || value! < min || value! > max) throw new InvalidField(field, `must be an integer from ${min} to ${max}, or null for the default`);
        else next[key] = value!;
      }
      await records.setLimits(name, next);
      try {
        applyLimits(service.manifest, true);
      } catch (err) {
        // Below what it uses now, the kernel refuses a memory limit (v1: EBUSY) and the setting waits for its next start.
        log.warn(`${name}: the new limits apply at its next start: ${describeError(err)}`);
      }
      const view = viewOf(service.manifest);
      log.info(`${name}: limits now memory ${view.memoryLimitMB} MB, cpu weight ${view.cpuWeight}, pids ${view.pids}`);
      return view;
    },
    instancesChanged(name) {
      const service = running.get(name);
      if (!service || !cgroups) return;
      try {
        applyLimits(service.manifest);
      } catch (err) {
        log.warn(`${name}: its memory limit follows its instances at its next start: ${describeError(err)}`);
      }
    },
    onHealth: (listener) => void healthListeners.push(listener),
    async stop() {
      await Promise.all([...running.values()].map((s) => s.stop()));
      await cgroups?.close();
    },
  };
}

/**
 * An install swaps folders in two renames (`<name>` → `.old-<name>-<id>`, then
 * `.install-<name>-<id>` → `<name>`). After a power cut between them the old
 * version is put back; half-copied and retired folders are removed, and so
 * are the `.removed-<name>-<id>` folders an uninstall was cut in removing.
 */
async function recoverInterruptedInstalls(apps: string, log: Logger): Promise<void> {
  const entries = (await readdir(apps, { withFileTypes: true })).filter((e) => e.isDirectory());
  const present = new Set(entries.map((e) => e.name));
  for (const entry of entries) {
    const retired = /^\.old-(.+)-[0-9a-f]{8}$/.exec(entry.name);
    if (retired && !present.has(retired[1]!)) {
      await rename(join(apps, entry.name), join(apps, retired[1]!));
      present.add(retired[1]!);
      log.warn(`an install of ${retired[1]} was interrupted; the previous version is back`);
    } else if (retired || /^\.(install|removed)-.+-[0-9a-f]{8}$/.test(entry.name)) {
      await rm(join(apps, entry.name), { recursive: true, force: true });
    }
  }
  await fsyncDir(apps);
}

const MAX_WEB_FILES = 10_000;

/** The files of a package's web folder (relative paths, sizes, times), for static serving. */
async function indexWebFolder(root: string, build: string, log: Logger): Promise<WebContent | null> {
  const files = new Map<string, WebFile>();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (files.size >= MAX_WEB_FILES) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path, `${prefix}${entry.name}/`);
      else if (entry.isFile()) {
        const info = await stat(path);
        files.set(`${prefix}${entry.name}`, { size: info.size, mtimeMs: info.mtimeMs });
      }
    }
  };
  try {
    await walk(root, '');
  } catch (err) {
    log.warn(`its web folder ${root} cannot be read: ${(err as Error).message}`);
    return null;
  }
  return { build, root, files };
}

/**
 * Makes a copied package root's and read-only to its service: folders 0755,
 * files readable by all and writable by no one but root (executables keep
 * their x bits).
 */
async function sealPackage(dir: string, root: boolean): Promise<void> {
  const seal = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if (info.isSymbolicLink()) return;
    if (root) await chown(path, 0, 0);
    await chmod(path, info.isDirectory() ? 0o755 : (info.mode & 0o755) | 0o444);
  };
  await seal(dir);
  // Dirent.parentPath is Node ≥ 20.12; before it (20.11.0 is the newest armv7 build on npm) the same is `path`.
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) await seal(join(entry.parentPath ?? (entry as { path?: string }).path ?? dir, entry.name));
}

/** Gives a folder and what is in it to a service's account. */
async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isSymbolicLink()) continue;
    // The tree is the service's: what it put there is changed through a handle, never through a
    // link swapped in meanwhile, and a hard link to a file elsewhere (root's backup key) is not its own.
    const handle = await open(join(entry.parentPath ?? (entry as { path?: string }).path ?? dir, entry.name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
    if (!handle) continue;
    try {
      const stat = await handle.stat();
      if (stat.isDirectory() || (stat.isFile() && stat.nlink === 1)) await handle.chown(uid, gid);
    } finally {
      await handle.close();
    }
  }
}

/** `setpriv --pdeathsig KILL --` where util-linux's setpriv offers it: children die with the supervisor. */
function deathSignalWrapper(): string[] | null {
  for (const path of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      const help = execFileSync(path, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
      if (help.includes('--pdeathsig')) return [path, '--pdeathsig', 'KILL', '--'];
    } catch {
      // not here, or a build without it
    }
  }
  return null;
}

export { serviceRoutes } from './api';
export { CrashRecord, LimitsView, LogTail, ServiceView, UsageView } from './views';
