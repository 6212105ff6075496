// App instances: the seed's unit of hosting. Each has its own database (same
// cluster, Unix socket) or an external one, a webserver path and a password.
// This module owns their lifecycle: create (row first, then the database, so a
// cut is finished at the next start), edit (live: routes move, the service
// hears instance.config), start/stop (route and instance.start/stop), delete.
// Every change goes through one queue, so they never interleave.
import { randomBytes } from 'node:crypto';
import postgres, { type Sql } from 'postgres';
import { pgAddress, quoteIdent } from '../db';
import { ApError, describe, InvalidField } from '../errors';
import type { Logger } from '../log';
import {
  DB_PASSWORD_LENGTH,
  formatDbHost,
  INSTANCE_PASSWORD_LENGTH,
  instanceId,
  parseInstanceId,
  publicView,
  randomPassword,
  validateCreate,
  validateEdit,
  type CreateInput,
  type EditInput,
  type ExternalDb,
  type Instance,
} from '../records';
import {
  changeDatabasePassword,
  databaseObjects,
  databaseSizes,
  deleteInstanceRow,
  dropDatabase,
  insertInstance,
  loadInstances,
  provisionDatabase,
  saveInstance,
} from './store';

export * from '../records';
export { provisionDatabase, provisioningSteps, dropDatabase, databaseObjects } from './store';

/** What instances need of the app services. */
export interface InstanceServices {
  installed(service: string): boolean;
  running(service: string): boolean;
  /** Sends a control message to a running service; false when it is not running. */
  control(service: string, message: Record<string, unknown>): boolean;
}

export interface InstancesOptions {
  /** Superuser pool on the manager database (the cluster of the instance databases). */
  readonly sql: Sql;
  /** Where services reach the local cluster. */
  readonly cluster: { readonly socketDir: string; readonly port: number };
  readonly services: InstanceServices;
  readonly log: Logger;
  /**
   * Checks the routes a change would publish (all of them) by the webserver's
   * rules; one that throws fails the change. Published, they are `routes`, a
   * new list on every change, from which the webserver builds its table.
   */
  readonly checkRoutes: (routes: readonly InstanceRoute[]) => void;
  /** Ends the client WebSockets of an instance. */
  readonly closeConnections: (id: string, code: number, reason: string) => void;
  /** Checks an external database answers; the default connects with sslmode=prefer. */
  readonly checkExternal?: (external: ExternalDb) => Promise<void>;
  /** Told after instances were added, removed or changed (a service's memory limit counts its instances). */
  readonly changed?: () => void;
  /**
   * A standby's: the list is the primary's, in a read-only database. Nothing
   * is provisioned, finished or cleaned up here (a restore or a change under
   * way on the primary arrives as it is; the primary finishes it).
   */
  readonly readOnly?: boolean;
}

/** Where an instance is served: the webserver's route for it (a running, ready instance has one). */
export interface InstanceRoute {
  /** The instance's path, "/example.com/app". */
  readonly prefix: string;
  /** name@domain */
  readonly instance: string;
  readonly service: string;
  /** Body limit for this route, or null for the server's default. */
  readonly maxBodyBytes: number | null;
  /** The instance's domain (AppLoginResult carries it) and password (the PBX login checks it). */
  readonly domain: string;
  readonly password: string;
}

/** The state people see: provisioning/deleting while that runs; running, waiting (for its service) or stopped. */
export type InstanceState = 'provisioning' | 'deleting' | 'running' | 'waiting' | 'stopped';

export interface CreateOptions {
  /** Take over a database and user of these names that exist already (e.g. left by a deleted instance), with their data. */
  readonly adoptDatabase?: boolean;
  /** Refuse services that are not installed (API); declared instances may come first. */
  readonly requireInstalled?: boolean;
}

export interface EditOptions {
  /** New random instance password. */
  readonly newPassword?: boolean;
  /** New random database password. */
  readonly newDbPassword?: boolean;
}

export class Instances {
  private readonly byId = new Map<string, Instance>();
  private published: readonly InstanceRoute[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;

  private constructor(private readonly options: InstancesOptions) {}

  /**
   * Loads the instances, finishes what a cut left (provisioning, deleting),
   * creates declared instances (config file) that are missing, and publishes the routes.
   */
  static async open(options: InstancesOptions, declared: readonly CreateInput[] = []): Promise<Instances> {
    const instances = new Instances(options);
    await instances.load(declared);
    return instances;
  }

  get routes(): readonly InstanceRoute[] {
    return this.published;
  }

  list(): Instance[] {
    return [...this.byId.values()];
  }

  /** The instance `id` (name@domain); NOT_FOUND otherwise. */
  get(id: string): Instance {
    const { name, domain } = parseInstanceId(id);
    const instance = this.byId.get(instanceId({ name, domain }));
    if (!instance) throw new ApError('NOT_FOUND', `no instance ${id}`);
    return instance;
  }

  state(instance: Instance): InstanceState {
    if (instance.phase !== 'ready') return instance.phase;
    if (instance.wanted === 'stopped') return 'stopped';
    return this.options.services.running(instance.service) ? 'running' : 'waiting';
  }

  /** What clients see of one instance. */
  view(instance: Instance, sizes?: Map<string, number>): Record<string, unknown> {
    const view = publicView(instance);
    const size = sizes?.get(instance.dbName);
    return { ...view, state: this.state(instance), ...(sizes ? { database: { ...(view.database as object), sizeBytes: size ?? null } } : {}) };
  }

  /** Sizes of the local instance databases, by database name. */
  sizes(): Promise<Map<string, number>> {
    return databaseSizes(this.options.sql, this.list().map((i) => i.dbName));
  }

  /**
   * Sends instance.config again, parameters unchanged, to every running instance
   * whose database is in the local cluster: the cluster was down and is back,
   * and the connections the services held died with it (docs/channel.md).
   * Returns the instances told.
   */
  databaseBack(): string[] {
    const told: string[] = [];
    for (const i of this.list()) {
      if (i.external || this.state(i) !== 'running') continue;
      if (this.options.services.control(i.service, { type: 'instance.config', ...this.parameters(i) })) told.push(instanceId(i));
    }
    return told;
  }

  /** instance.start messages for the running-wanted instances of `service` (sent when it becomes ready). */
  startMessages(service: string): Record<string, unknown>[] {
    return this.list()
      .filter((i) => i.service === service && i.phase === 'ready' && i.wanted === 'running')
      .map((i) => this.parameters(i));
  }

  create(input: CreateInput, options: CreateOptions = {}): Promise<Instance> {
    return this.serial(async () => {
      const instance = validateCreate(input, {
        requireService: (service) => {
          if (options.requireInstalled && !this.options.services.installed(service)) {
            throw new ApError('NOT_FOUND', `service ${service} is not installed`);
          }
        },
      });
      const id = instanceId(instance);
      if (this.byId.has(id)) throw new ApError('EXISTS', `instance ${id} exists already`);
      if (instance.external) await this.checkExternal(instance.external);
      const found = await databaseObjects(this.options.sql, instance);
      if ((found.database || found.role) && !options.adoptDatabase) {
        const what = [found.database ? `database "${instance.dbName}"` : null, found.role ? `user "${instance.dbUser}"` : null].filter(Boolean).join(' and ');
        throw new ApError(
          'DATABASE_EXISTS',
          `${what} exist${found.database && found.role ? '' : 's'} already in the cluster (left by a deleted instance?): adopt them with their data (adoptDatabase), or choose another dbName/dbUser`,
        );
      }
      await insertInstance(this.options.sql, instance);
      this.byId.set(id, instance);
      this.options.log.info(`instance ${id} (${instance.service}) created; creating its database "${instance.dbName}"`);
      try {
        return await this.provision(instance);
      } catch (err) {
        throw new ApError('PROVISIONING_FAILED', `${(err as Error).message}; instance ${id} is kept half-made: start it to try again (also done at the next start of the supervisor), or delete it`, { cause: err });
      }
    });
  }

  edit(id: string, input: EditInput, options: EditOptions = {}): Promise<Instance> {
    return this.serial(async () => {
      const current = this.ready(id);
      const changes = validateEdit(input);
      if (options.newPassword) changes.password = randomPassword(INSTANCE_PASSWORD_LENGTH);
      if (options.newDbPassword) changes.dbPassword = randomPassword(DB_PASSWORD_LENGTH);
      if (changes.external) await this.checkExternal(changes.external);
      const { dbPassword, ...rest } = changes;
      let next: Instance = { ...current, ...rest };
      if (dbPassword !== undefined && dbPassword !== current.dbPassword) {
        next = await changeDatabasePassword(this.options.sql, next, dbPassword);
      } else {
        await saveInstance(this.options.sql, next);
      }
      this.byId.set(instanceId(next), next);
      this.publishRoutes();
      if (this.state(next) === 'running') this.options.services.control(next.service, { type: 'instance.config', ...this.parameters(next) });
      const what = Object.keys(changes).map((k) => (k === 'password' || k === 'dbPassword' ? `${k} (new)` : k));
      this.options.log.info(`instance ${instanceId(next)} edited: ${what.join(', ') || 'nothing'}`);
      return next;
    });
  }

  startInstance(id: string): Promise<Instance> {
    return this.serial(async () => {
      let instance = this.get(id);
      if (instance.phase === 'deleting') throw new ApError('CONFLICT', `instance ${id} is being deleted`);
      if (instance.wanted !== 'running') {
        instance = { ...instance, wanted: 'running' };
        await saveInstance(this.options.sql, instance);
        this.byId.set(instanceId(instance), instance);
      }
      if (instance.phase === 'provisioning') return this.provision(instance);
      this.publishRoutes();
      this.options.services.control(instance.service, { type: 'instance.start', ...this.parameters(instance) });
      this.options.log.info(`instance ${id} started`);
      return instance;
    });
  }

  stopInstance(id: string): Promise<Instance> {
    return this.serial(async () => {
      let instance = this.get(id);
      if (instance.wanted === 'stopped') return instance;
      instance = { ...instance, wanted: 'stopped' };
      await saveInstance(this.options.sql, instance);
      this.byId.set(instanceId(instance), instance);
      this.takeDown(instance, 'instance stopped');
      this.options.log.info(`instance ${id} stopped`);
      return instance;
    });
  }

  /** Stops and removes the instance; its database and user only with dropDatabase. */
  delete(id: string, options: { readonly dropDatabase?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      const instance: Instance = { ...this.get(id), wanted: 'stopped', phase: 'deleting', dropDatabase: options.dropDatabase === true };
      await saveInstance(this.options.sql, instance);
      this.byId.set(id, instance);
      await this.finishDelete(instance);
    });
  }

  /**
   * Puts a restored database in place as instance `next` (phase provisioning):
   * `scratch` holds the complete restore. Replacing an existing instance (or a
   * database left by a deleted one) needs `replace`; the old database stays
   * until one transaction swaps the names and writes the row, and is dropped after.
   */
  installRestored(next: Instance, scratch: string, replace: boolean): Promise<Instance> {
    return this.serial(async () => {
      const id = instanceId(next);
      const existing = this.byId.get(id);
      if (existing && !replace) throw new ApError('EXISTS', `instance ${id} exists: restore over it only when asked to replace it`);
      if (existing && existing.phase === 'deleting') throw new ApError('CONFLICT', `instance ${id} is being deleted`);
      for (const other of this.byId.values()) {
        if (other === existing) continue;
        if (other.path === next.path) throw new InvalidField('path', `${next.path} is the path of instance ${instanceId(other)}`);
        if (other.dbName === next.dbName) throw new InvalidField('dbName', `"${next.dbName}" is the database of instance ${instanceId(other)}`);
        if (other.dbUser === next.dbUser) throw new InvalidField('dbUser', `"${next.dbUser}" is the database user of instance ${instanceId(other)}`);
      }
      const found = await databaseObjects(this.options.sql, next);
      if (found.database && !replace) {
        throw new ApError('DATABASE_EXISTS', `database "${next.dbName}" exists already (left by a deleted instance?): restore with replace to put the backup in its place`);
      }
      if (existing) this.takeDown(existing, 'instance restored');
      const trash = `ap_trash_${randomBytes(6).toString('hex')}`;
      await disconnect(this.options.sql, [next.dbName, scratch, ...(existing && existing.dbName !== next.dbName ? [existing.dbName] : [])]);
      await this.options.sql.begin(async (tx) => {
        if (found.database) await tx.unsafe(`ALTER DATABASE ${quoteIdent(next.dbName)} RENAME TO ${quoteIdent(trash)}`);
        await tx.unsafe(`ALTER DATABASE ${quoteIdent(scratch)} RENAME TO ${quoteIdent(next.dbName)}`);
        if (existing) await saveInstance(tx, next);
        else await insertInstance(tx, next);
      });
      this.byId.set(id, next);
      if (found.database) await this.options.sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(trash)} WITH (FORCE)`);
      if (existing && existing.dbName !== next.dbName) await dropDatabase(this.options.sql, existing);
      this.options.log.info(`instance ${id} restored into database "${next.dbName}"`);
      return this.provision(next);
    });
  }

  /**
   * Reads every instance again (after the manager database was restored): the
   * old ones are taken down, the new ones provisioned (their roles get the
   * stored passwords; missing databases are created empty) and brought up.
   */
  reload(): Promise<void> {
    return this.serial(async () => {
      for (const instance of this.byId.values()) this.takeDown(instance, 'configuration restored');
      this.byId.clear();
      for (const instance of await loadInstances(this.options.sql)) this.byId.set(instanceId(instance), instance);
      for (const instance of this.list()) {
        try {
          if (instance.phase === 'deleting') await this.finishDelete(instance);
          else await this.provision(instance);
        } catch (err) {
          this.options.log.error(`instance ${instanceId(instance)}: ${describe(err)}`);
        }
      }
      this.publishRoutes();
    });
  }

  /** A standby reads the list again: the primary adds, changes and removes instances (nothing is provisioned here). */
  relist(): Promise<void> {
    return this.serial(async () => {
      const now = await loadInstances(this.options.sql);
      this.byId.clear();
      for (const instance of now) this.byId.set(instanceId(instance), instance);
      this.publishRoutes();
    });
  }

  /**
   * The supervisor stops: a change under way (a database being made or
   * dropped) finishes before the database closes; later ones are refused.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue;
  }

  /** Runs `fn` while no other instance change runs (the manager restore). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(fn);
  }

  private async load(declared: readonly CreateInput[]): Promise<void> {
    if (this.options.readOnly) {
      for (const instance of await loadInstances(this.options.sql)) this.byId.set(instanceId(instance), instance);
      this.publishRoutes();
      return;
    }
    // Leftovers of restores a cut interrupted: the scratch copy before the swap, the old database after it.
    const leftovers = await this.options.sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE 'ap\_restore\_%' OR datname LIKE 'ap\_trash\_%'`;
    for (const { datname } of leftovers) {
      this.options.log.warn(`dropping database "${datname}" left by an interrupted restore`);
      await this.options.sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(datname)} WITH (FORCE)`);
    }
    // ...and the role each restore makes for pg_restore (named like its scratch database).
    const roles = await this.options.sql<{ rolname: string }[]>`SELECT rolname FROM pg_roles WHERE rolname LIKE 'ap\_restore\_%'`;
    for (const { rolname } of roles) {
      await this.options.sql.unsafe(`DROP ROLE IF EXISTS ${quoteIdent(rolname)}`).catch((err: unknown) => this.options.log.warn(`role "${rolname}" left by an interrupted restore: ${describe(err)}`));
    }
    for (const instance of await loadInstances(this.options.sql)) this.byId.set(instanceId(instance), instance);
    for (const instance of this.list()) {
      try {
        if (instance.phase === 'provisioning') await this.provision(instance);
        else if (instance.phase === 'deleting') await this.finishDelete(instance);
      } catch (err) {
        this.options.log.error(`instance ${instanceId(instance)}: ${describe(err)}`);
      }
    }
    for (const input of declared) {
      const id = `${String(input.name)}@${String(input.domain)}`;
      if (this.byId.has(id)) continue;
      try {
        await this.create(input, { adoptDatabase: true });
      } catch (err) {
        this.options.log.error(`declared instance ${id} could not be created: ${describe(err)}`);
      }
    }
    this.publishRoutes();
  }

  /** Runs the seed's database statements (again), then marks the instance ready and brings it up if wanted. */
  private async provision(instance: Instance): Promise<Instance> {
    await provisionDatabase(this.options.sql, instance);
    const ready: Instance = { ...instance, phase: 'ready' };
    await saveInstance(this.options.sql, ready);
    this.byId.set(instanceId(ready), ready);
    this.publishRoutes();
    if (ready.wanted === 'running') this.options.services.control(ready.service, { type: 'instance.start', ...this.parameters(ready) });
    this.options.log.info(`instance ${instanceId(ready)} ready (database "${ready.dbName}", user "${ready.dbUser}")`);
    return ready;
  }

  private async finishDelete(instance: Instance): Promise<void> {
    const id = instanceId(instance);
    this.takeDown(instance, 'instance deleted');
    if (instance.dropDatabase) await dropDatabase(this.options.sql, instance);
    await deleteInstanceRow(this.options.sql, instance);
    this.byId.delete(id);
    this.options.changed?.();
    this.options.log.info(`instance ${id} deleted${instance.dropDatabase ? `, with database "${instance.dbName}" and user "${instance.dbUser}"` : ` (database "${instance.dbName}" kept)`}`);
  }

  /** Route gone, service told, clients closed (1001: going away). */
  private takeDown(instance: Instance, reason: string): void {
    this.publishRoutes();
    this.options.services.control(instance.service, { type: 'instance.stop', name: instance.name, domain: instance.domain });
    this.options.closeConnections(instanceId(instance), 1001, reason);
  }

  private ready(id: string): Instance {
    const instance = this.get(id);
    if (instance.phase !== 'ready') throw new ApError('CONFLICT', `instance ${id} is ${instance.phase === 'deleting' ? 'being deleted' : 'still being created'}`);
    return instance;
  }

  /** What the service gets with instance.start/config: the vendor's instance arguments, and how to reach its database. */
  private parameters(i: Instance): Record<string, unknown> {
    const database = i.external
      ? { host: i.external.host, port: i.external.port, name: i.external.name, user: i.external.user, password: i.external.password, sslmode: 'prefer' }
      : { host: this.options.cluster.socketDir, port: this.options.cluster.port, name: i.dbName, user: i.dbUser, password: i.dbPassword, sslmode: 'disable' };
    return { name: i.name, domain: i.domain, path: i.path, password: i.password, traceFlags: i.traceFlags, database };
  }

  private publishRoutes(): void {
    const routes: InstanceRoute[] = this.list()
      .filter((i) => i.phase === 'ready' && i.wanted === 'running')
      .map((i) => ({ prefix: i.path, instance: instanceId(i), service: i.service, maxBodyBytes: i.maxBodyBytes, domain: i.domain, password: i.password }));
    this.options.checkRoutes(routes);
    this.published = routes;
    this.options.changed?.();
  }

  private async checkExternal(external: ExternalDb): Promise<void> {
    try {
      await (this.options.checkExternal ?? connectExternal)(external);
    } catch (err) {
      throw new ApError(
        'EXTERNAL_DB_UNREACHABLE',
        `cannot connect to the external database "${external.name}" at ${formatDbHost(external)} as "${external.user}": ${(err as Error).message} (create the database and user there first; the seed explains how)`,
      );
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(new ApError('STOPPED', 'the supervisor is stopping'));
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

/** Ends other sessions on `databases` (renames and drops need them gone). */
async function disconnect(sql: Sql, databases: readonly string[]): Promise<void> {
  await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ${sql(databases as string[])} AND pid <> pg_backend_pid()`;
}

/** Connects once to an external database (sslmode=prefer, like the seed) and runs SELECT 1. */
async function connectExternal(e: ExternalDb): Promise<void> {
  const sql = postgres({
    ...pgAddress(e.host, e.port), // an IPv6 address as it is, never split at ":"
    database: e.name,
    username: e.user,
    password: e.password,
    ssl: 'prefer',
    max: 1,
    connect_timeout: 5,
    idle_timeout: 1,
    onnotice: () => {},
    connection: { application_name: 'ap-supervisor' },
  });
  try {
    await sql`SELECT 1`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}
export { instanceRoutes, type AdmitInstance } from './api';
export type { InstanceView } from './schema';
export { NightlyAnalyse } from './maintenance';
