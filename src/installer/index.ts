// The App Installer of the PBX Manager (the seed's "App Installer PBX Manager
// Plugin"): installs, updates and uninstalls App Store apps for a domain, as
// a thin orchestration over the store, the services and the instances. Two
// modes (setting installerMode): dedicated, one App Platform per user (an
// uninstall removes the service with its instances; updates allowed), and
// shared (an install adds the domain's instance, an uninstall removes it and
// the service goes with its last instance; updates are the administrator's).
//
// Every request is checked before anything changes (the app in the store,
// the domain, the mode, the instance it would make) and becomes one job;
// it never uninstalls a service the administrator installed, only its own;
// installer jobs run one after another and check again when they start. An
// install that fails after it changed something undoes it: the instance it
// made, and the service when this install brought it. The instance password
// is in no job message, log or list: GET /installer/jobs/{id} reads it from
// the instance, once, for the caller that started the install.
import { ApError, describe, InvalidField } from '../errors';
import type { JobControl, JobView, Jobs } from '../jobs';
import { checkDomain, instanceId, validateCreate, type AdmitInstance, type Instance, type Instances } from '../instances';
import type { Services } from '../services';
import type { AppStore, StoreApp } from '../store';
import type { InstallerApps, InstallerInfo, InstallerJob, InstallerMode, InstallResult } from './views';

export { installerRoutes } from './api';
export { InstallerApps, InstallerInfo, InstallerJob, InstallerMode } from './views';

/** Job kinds: GET /installer/jobs/{id} shows these and no others. */
const KIND = { install: 'installer.install', update: 'installer.update', uninstall: 'installer.uninstall' } as const;

export interface InstallerOptions {
  /** The installerMode setting. */
  readonly mode: () => Promise<InstallerMode>;
  /** The App Platform DNS name setting (empty: no URLs, only paths). */
  readonly dnsName: () => Promise<string>;
  readonly store: Pick<AppStore, 'list' | 'app' | 'install'>;
  readonly services: Pick<Services, 'get' | 'checkUninstall' | 'uninstall' | 'uninstalling'>;
  readonly instances: Pick<Instances, 'list' | 'state' | 'create' | 'delete'>;
  readonly jobs: Jobs;
  /** Admission control for the new instance (the memory budget). */
  readonly admit: AdmitInstance;
  /** Whether the database or the user an instance would get exist in the cluster (kept by an earlier uninstall). */
  readonly databaseLeft: (instance: Pick<Instance, 'dbName' | 'dbUser'>) => Promise<boolean>;
  /** Which services the installer installed (kept with their packages): only those may it uninstall. */
  readonly origin: { readonly mark: (service: string) => Promise<void>; readonly byInstaller: (service: string) => Promise<boolean> };
}

export class Installer {
  private queue: Promise<unknown> = Promise.resolve();
  /** Install jobs whose password is still to be handed out, and to whom (ApiRequest.caller). In memory: a restart forgets them. */
  private readonly handOut = new Map<string, string>();

  constructor(private readonly o: InstallerOptions) {}

  async info(): Promise<InstallerInfo> {
    const mode = await this.o.mode();
    const uninstall =
      mode === 'dedicated'
        ? 'the app service with all its instances (one the administrator installed stays: only the domain\'s instances go)'
        : "the domain's instances of the app; the app service with its last instance, unless the administrator installed it";
    return { mode, install: true, update: mode === 'dedicated', uninstall };
  }

  /** The store's apps as `domain` has them. */
  async apps(domain: string): Promise<InstallerApps> {
    checkDomain(domain);
    const [mode, list, host] = [await this.o.mode(), await this.o.store.list(), await this.o.dnsName()];
    const apps = list.apps.map((app) => {
      const instance = this.ofDomain(app.folder, domain)[0];
      const newest = app.versions[0]!;
      return {
        id: app.id,
        title: app.title,
        manufacturer: app.manufacturer,
        description: app.description,
        newest,
        service: app.installed,
        installed: instance !== undefined,
        instance: instance ? { id: instanceId(instance), path: instance.path, url: url(host, instance.path), state: this.o.instances.state(instance) } : null,
        updateAvailable: app.installed !== null && Number(newest.build) > Number(app.installed.label),
      };
    });
    return { mode, domain, apps };
  }

  /** Installs app `id` for `domain` as a job: its service when missing, then an instance of it for the domain, started. `caller` alone is shown its password, once. */
  async startInstall(id: string, domain: string, caller: string): Promise<JobView> {
    checkDomain(domain);
    const app = await this.o.store.app(id);
    const wanted = this.planInstall(app, domain);
    const running = this.o.jobs.running(KIND.install, instanceId(wanted));
    if (running) throw new ApError('INSTALLER_EXISTS', `${app.id} is being installed for ${domain} (job ${running.id})`);
    const started = this.o.jobs.start(KIND.install, instanceId(wanted), `installing ${app.id} for ${domain}`, (job) => this.serial(() => this.install(app, domain, job)));
    for (const jobId of this.handOut.keys()) if (!this.o.jobs.get(jobId)) this.handOut.delete(jobId); // jobs no longer kept
    this.handOut.set(started.id, caller);
    return started;
  }

  /** Updates the service of app `id` to the store's newest build as a job (dedicated mode only). */
  async startUpdate(id: string): Promise<JobView> {
    if ((await this.o.mode()) !== 'dedicated') {
      throw new ApError('INSTALLER_SHARED_UPDATE', 'this App Platform is shared between domains (installerMode shared): only its administrator updates apps, in the Manager');
    }
    const app = await this.o.store.app(id);
    const service = this.o.services.get(app.folder)?.status();
    if (!service) throw new ApError('INSTALLER_NOT_INSTALLED', `${app.id} is not installed: install it first`);
    const newest = app.versions[0]!;
    if (Number(newest.build) <= Number(service.label)) throw new ApError('INSTALLER_UP_TO_DATE', `${app.id} runs build ${service.label}, the store's newest is ${newest.build}: nothing to update`);
    const running = this.o.jobs.running(KIND.update, app.folder);
    if (running) throw new ApError('CONFLICT', `${app.id} is being updated already (job ${running.id})`);
    return this.o.jobs.start(KIND.update, app.folder, `updating ${app.id} to build ${newest.build}`, (job) =>
      this.serial(() => this.o.store.install(app.id, undefined, job, { force: false, waitReady: true })),
    );
  }

  /** Uninstalls app `id` for `domain` as a job, as the mode says. */
  async startUninstall(id: string, domain: string, dropDatabase: boolean): Promise<JobView> {
    checkDomain(domain);
    const mode = await this.o.mode();
    const folder = await this.serviceOf(id);
    // Its instance is not there yet: "no instance" would send the PBX Manager the wrong way.
    const installing = this.o.jobs.running(KIND.install, instanceId({ name: folder, domain }));
    if (installing) throw new ApError('CONFLICT', `${id} is being installed for ${domain} (job ${installing.id}): uninstall it once that is done`);
    const target = instanceId(this.planUninstall(folder, domain, id)[0]!);
    const running = this.o.jobs.running(KIND.uninstall, target);
    if (running) throw new ApError('CONFLICT', `${id} is being uninstalled for ${domain} already (job ${running.id})`);
    return this.o.jobs.start(KIND.uninstall, target, `uninstalling ${id} for ${domain}`, (job) => this.serial(() => this.uninstall(mode, folder, domain, id, dropDatabase, job)));
  }

  /**
   * An installer job with, for an install that succeeded, what the PBX Manager
   * configures; NOT_FOUND for any other job. The password is in the first such
   * answer to the caller that started the install, and in no other: whoever
   * reads the job later (another token, the administrator) gets null.
   */
  async job(id: string, caller: string): Promise<InstallerJob> {
    const job = this.o.jobs.get(id);
    if (!job || !Object.values(KIND).includes(job.kind as never)) throw new ApError('NOT_FOUND', `no installer job ${id}`);
    if (job.kind !== KIND.install || job.state !== 'succeeded') {
      if (job.state !== 'running') this.handOut.delete(id);
      return { ...job, result: null };
    }
    const handOut = this.handOut.get(id) === caller;
    if (handOut) this.handOut.delete(id);
    return { ...job, result: await this.result(job.target, handOut) };
  }

  private async result(id: string, withPassword: boolean): Promise<InstallResult | null> {
    const instance = this.o.instances.list().find((i) => instanceId(i) === id);
    if (!instance) return null;
    return { instance: id, path: instance.path, url: url(await this.o.dnsName(), instance.path), password: withPassword ? instance.password : null };
  }

  /** The instance an install would create (the Manager's defaults: name the service's, path /<domain>/<name>, database <domain>_<name>); throws what it is refused with. */
  private planInstall(app: StoreApp, domain: string): Instance {
    const mine = this.ofDomain(app.folder, domain)[0];
    if (mine) throw new ApError('INSTALLER_EXISTS', `${domain} has ${app.id} already: instance ${instanceId(mine)} at ${mine.path}`);
    if (this.o.services.uninstalling(app.folder)) throw new ApError('CONFLICT', `${app.folder} is being uninstalled; install it again once that is done`);
    const wanted = this.defaultsFor(app, domain);
    const other = this.o.instances.list().find((i) => instanceId(i) === instanceId(wanted) || i.path === wanted.path || i.dbName === wanted.dbName || i.dbUser === wanted.dbUser);
    if (other) {
      throw new ApError('EXISTS', `instance ${instanceId(other)} (of ${other.service}) has the name, path ${other.path} or database "${other.dbName}" an instance of ${app.id} for ${domain} would get: the administrator must move or delete it first`);
    }
    return wanted;
  }

  /**
   * The Manager's defaults for the instance, as validateCreate makes them. A
   * domain that is valid can still give defaults that are not (a database name
   * over PostgreSQL's 63 characters, a path under /manager/): validateCreate
   * then names a field (dbName, path) the installer's API does not have, and
   * advice the PBX Manager cannot follow, so it is told about its domain.
   */
  private defaultsFor(app: StoreApp, domain: string): Instance {
    try {
      return validateCreate({ service: app.folder, name: app.folder, domain });
    } catch (err) {
      if (!(err instanceof InvalidField) || err.field === 'domain') throw err;
      throw new InvalidField('domain', `the installer cannot make an instance of ${app.id} for ${domain}: its ${err.message}; the administrator can create one by hand in the Manager`);
    }
  }

  /** The domain's instances of `folder` an uninstall removes; throws what it is refused with. */
  private planUninstall(folder: string, domain: string, id: string): Instance[] {
    const mine = this.ofDomain(folder, domain);
    if (mine.length === 0) throw new ApError('INSTALLER_NOT_INSTALLED', `${domain} has no instance of ${id}`);
    // What an uninstall of its service is refused with (a standby, one under way, the supervisor's own) refuses this too.
    if (this.o.services.get(folder)) this.o.services.checkUninstall(folder, { instances: true });
    return mine;
  }

  private async install(app: StoreApp, domain: string, job: JobControl): Promise<string> {
    // Checked again: another job may have changed things while this one waited.
    const wanted = this.planInstall(app, domain);
    const id = instanceId(wanted);
    const adopt = await this.o.databaseLeft(wanted);
    const fresh = !this.o.services.get(app.folder);
    let done = '';
    try {
      if (fresh) {
        done = `${await this.o.store.install(app.id, undefined, job, { force: false, waitReady: true })}; `;
        await this.o.origin.mark(app.folder);
      }
      job.progress(0, null, `creating instance ${id}`);
      await this.o.admit(app.folder, id, false);
      const made = await this.o.instances.create({ service: app.folder, name: wanted.name, domain }, { adoptDatabase: adopt, requireInstalled: true });
      const kept = adopt ? `, with the database "${made.dbName}" an earlier uninstall kept` : '';
      return `${done}instance ${id} of ${app.id} created at ${made.path}${kept}, ${this.o.instances.state(made)}`;
    } catch (err) {
      throw new ApError('INSTALL_FAILED', `installing ${app.id} for ${domain} failed: ${describe(err)}; ${await this.rollBack(id, app.folder, fresh, adopt)}`);
    }
  }

  /** Undoes a failed install: the instance it made (its database too, unless adopted), and the service when it installed it. Answers what it did, or what is left. */
  private async rollBack(id: string, folder: string, fresh: boolean, adopted: boolean): Promise<string> {
    const undone: string[] = [];
    try {
      if (this.o.instances.list().some((i) => instanceId(i) === id)) {
        await this.o.instances.delete(id, { dropDatabase: !adopted });
        undone.push(`instance ${id} deleted`);
      }
      // Its logs stay: they tell why it failed.
      if (fresh && this.o.services.get(folder)) undone.push(await this.o.services.uninstall(folder, { keepLogs: true }));
      return undone.length === 0 ? 'nothing was changed' : `rolled back: ${undone.join('; ')}`;
    } catch (err) {
      const left = [
        ...(this.o.instances.list().some((i) => instanceId(i) === id) ? [`instance ${id}`] : []),
        ...(fresh && this.o.services.get(folder) ? [`service ${folder}`] : []),
      ];
      return `rolling back failed too (${describe(err)}); left for the administrator to remove: ${left.join(' and ') || 'nothing'}`;
    }
  }

  private async uninstall(mode: InstallerMode, folder: string, domain: string, id: string, dropDatabase: boolean, job: JobControl): Promise<string> {
    const mine = this.planUninstall(folder, domain, id);
    const progress = (note: string) => job.progress(0, null, note);
    // One the administrator installed stays, with its other instances, in either mode.
    const ours = this.o.services.get(folder) !== undefined && (await this.o.origin.byInstaller(folder));
    // Dedicated: the box is the user's, the service goes with all its instances. An instance of another
    // domain says it is not (the mode was switched on a shared box): then only this domain's go, as when shared.
    const shared = this.o.instances.list().some((i) => i.service === folder && i.domain !== domain);
    if (mode === 'dedicated' && ours && !shared) return this.o.services.uninstall(folder, { instances: true, dropDatabases: dropDatabase }, progress);
    for (const instance of mine) {
      progress(`deleting instance ${instanceId(instance)}`);
      await this.o.instances.delete(instanceId(instance), { dropDatabase });
    }
    const deleted = `deleted ${mine.map(instanceId).join(', ')}${dropDatabase ? ' with the database' : ' (the database kept)'}`;
    const others = this.o.instances.list().filter((i) => i.service === folder).length;
    if (!this.o.services.get(folder)) return deleted;
    if (!ours) return `${deleted}; ${folder} stays installed: the administrator installed it`;
    if (others > 0) return `${deleted}; ${folder} stays installed for its ${others} other instance(s)`;
    return `${deleted}; ${await this.o.services.uninstall(folder, {}, progress)}`;
  }

  /** The service of app `id`: its folder in the store; an app that left the store (or a store out of reach) is still uninstalled, its id naming its service. */
  private async serviceOf(id: string): Promise<string> {
    try {
      return (await this.o.store.app(id)).folder;
    } catch (err) {
      if (this.o.services.get(id)) return id;
      throw err;
    }
  }

  /** The instances of service `folder` in `domain`. */
  private ofDomain(folder: string, domain: string): Instance[] {
    return this.o.instances.list().filter((i) => i.service === folder && i.domain === domain);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

/** Where the instance is reached by name (the dnsName setting may be an IPv6 address). */
function url(host: string, path: string): string | null {
  if (host === '') return null;
  return `https://${host.includes(':') ? `[${host}]` : host}${path}`;
}
