// The database subsystem: the PostgreSQL cluster (managed: run by us; attached:
// run by S50postgresql), the connection pool to the supervisor's own database
// `manager`, and its schema migrations.
import postgres, { type Sql } from 'postgres';
import type { Config } from '../config';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';
import type { Paths } from '../paths';
import { findPgBin } from './binaries';
import { startCluster, SUPERUSER, type Cluster } from './cluster';
import { keepAttached, keepManaged, type DatabaseHealth, type Keeper } from './keeper';
import { currentVersion, migrate, MIGRATIONS, type Migration } from './migrations';

export { findPgBin, findPgTools, lookupAccount, clusterAccount } from './binaries';
export { startCluster, stopLeftovers, SUPERUSER, type Cluster, type ClusterExit, type ClusterOptions } from './cluster';
export { keepAttached, keepManaged, DEFAULT_KEEPER_POLICY, type DatabaseHealth, type DatabaseState, type Keeper, type KeeperPolicy } from './keeper';
export { migrate, currentVersion, MIGRATIONS, type Migration, type MigrationResult } from './migrations';
export { settings, type Settings } from './settings';
export { CONNECTION_BYTES } from './memory';
export { quoteIdent, quoteLiteral, SQLSTATE, sqlState } from './sql';

/** The supervisor's own database. */
export const MANAGER_DB = 'manager';

export interface Database {
  /** Pool on the manager database. */
  readonly sql: Sql;
  readonly mode: 'managed' | 'attached';
  readonly schemaVersion: number;
  /** True when a trivial query answers. */
  ping(): Promise<boolean>;
  /** Up, down since when, restarting, given up; restarts so far. */
  health(): DatabaseHealth;
  /** Called on every change of `health().state` (and of the reason while down). */
  onChange(listener: (health: DatabaseHealth, previous: DatabaseHealth) => void): void;
  /** Managed and given up: try again now. Attached: check now. */
  start(): Promise<DatabaseHealth>;
  /** Managed: stop and start the cluster (to apply `why`, a setting only a start reads); the pool reconnects. Attached: UNSUPPORTED. */
  restart(why: string): Promise<DatabaseHealth>;
  /** Closes the pool, then stops a managed cluster (within a third of the shutdown timeout). */
  stop(): Promise<void>;
}

export interface ConnectOptions {
  readonly socketDir: string;
  readonly port: number;
  readonly database: string;
  readonly username?: string;
  readonly max?: number;
  /** Seconds a connection may stay unused before it is closed (default 60). */
  readonly idleTimeoutSeconds?: number;
}

/**
 * postgres.js's options for one server: a socket folder (an absolute path) as
 * the socket's path, an address as one-element lists. A string host is split
 * at "," and ":" (its "h1:p1,h2:p2" form), so "::1" became "" and the client
 * went to 127.0.0.1. Its types do not declare the lists its code (and README)
 * accept, hence the cast.
 */
export function pgAddress(host: string, port: number): { host?: string; port: number; path?: string } {
  if (host.startsWith('/')) return { path: `${host}/.s.PGSQL.${port}`, port };
  return { host: [host], port: [port] } as unknown as { host: string; port: number };
}

/** A pool over the cluster's Unix socket. */
export function connect(options: ConnectOptions): Sql {
  return postgres({
    ...pgAddress(options.socketDir, options.port),
    database: options.database,
    username: options.username ?? SUPERUSER,
    max: options.max ?? 4,
    idle_timeout: options.idleTimeoutSeconds ?? 60,
    // Renewed after 10 minutes: a backend that grew (a restore, provisioning:
    // catalog caches of all it touched) does not stay.
    max_lifetime: 10 * 60,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: 'ap-supervisor' },
  });
}

/**
 * Starts (managed) or waits for (attached) the cluster, creates the manager
 * database if missing and migrates its schema.
 */
export async function openDatabase(
  config: Config,
  paths: Paths,
  log: Logger,
  migrations: readonly Migration[] = MIGRATIONS,
  /** A standby's cluster (in recovery): nothing is created or migrated; the primary's schema arrives by replication. */
  options: { readonly readOnly?: boolean } = {},
): Promise<Database> {
  const { socketDir, port, mode } = config.db;
  let cluster: Cluster | null = null;
  // The board's memory settings as `-c` arguments, so they win over postgresql.conf and ALTER SYSTEM: the board is the box.
  const boardSettings = Object.fromEntries(Object.entries(config.board.postgres).map(([name, value]) => [name, String(value)]));
  const clusterOptions = () => ({ dataDir: paths.pgsql, socketDir, port, bin: findPgBin(config.db.bin), log: log.child('postgres'), settings: boardSettings });
  if (mode === 'managed') cluster = await startCluster(clusterOptions());
  let sql: Sql | null = null;
  try {
    await ensureDatabase({ socketDir, port, database: 'postgres' }, MANAGER_DB, mode === 'attached' ? 60_000 : 10_000);
    // Migrating fills a backend's catalog caches (every table and index it
    // touched, for as long as it lives): a connection of its own, ended after.
    const migrator = connect({ socketDir, port, database: MANAGER_DB, max: 1 });
    let result: { to: number };
    try {
      if (options.readOnly) {
        result = { to: await currentVersion(migrator) };
        const latest = migrations.at(-1)?.version ?? 0;
        if (result.to !== latest) log.warn(`the replicated manager database has schema version ${result.to}, this supervisor's is ${latest}: going on read-only (the primary migrates it)`);
      } else result = await migrate(migrator, migrations, log);
    } finally {
      await migrator.end({ timeout: 1 });
    }
    // The pool takes its connections in turn: with a minute's idle timeout the
    // health check (every checkIntervalMs) alone kept every connection a burst
    // had opened. Half an interval more than the check lets the spare ones go
    // and keeps the one the check uses.
    const idleTimeoutSeconds = Math.max(2, Math.ceil((config.db.checkIntervalMs * 1.5) / 1000));
    sql = connect({ socketDir, port, database: MANAGER_DB, max: config.board.dbPool, idleTimeoutSeconds });
    const pool = sql;
    const check = async (timeoutMs: number): Promise<string | null> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          pool`SELECT 1`,
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
        ]);
        return null;
      } catch (err) {
        return describe(err);
      } finally {
        clearTimeout(timer);
      }
    };
    const { restartDelayMs, restartLimit, restartWindowMs, checkIntervalMs } = config.db;
    const policy = { restartDelayMs, restartLimit, restartWindowMs, checkIntervalMs };
    const keeper: Keeper = cluster
      ? keepManaged(cluster, () => startCluster(clusterOptions()), policy, log)
      : keepAttached(check, policy, log);
    return {
      sql: pool,
      mode,
      schemaVersion: result.to,
      async ping() {
        // While a managed cluster is known to be down, asking it would only wait for a refusal.
        if (keeper.health().state !== 'up' && mode === 'managed') return false;
        return (await check(5000)) === null;
      },
      health: () => keeper.health(),
      onChange: (listener) => keeper.onChange(listener),
      start: () => keeper.start(),
      async restart(why) {
        const health = await keeper.restart(why);
        // A pool connection the stopped server ended may still be handed out once and fail
        // with "terminating connection" (57P01): asked until every one of them answered in a row.
        const poolSize = config.board.dbPool;
        for (let ok = 0, tries = 0; ok < poolSize && tries < 4 * poolSize + 4; tries++) {
          try {
            await pool`SELECT 1`;
            ok++;
          } catch {
            ok = 0;
          }
        }
        return health;
      },
      async stop() {
        const timeoutMs = Math.max(1000, Math.floor(config.shutdownTimeoutMs / 3));
        await keeper.stop();
        await pool.end({ timeout: Math.max(1, Math.floor(timeoutMs / 4000)) });
        await keeper.cluster?.stop(timeoutMs);
      },
    };
  } catch (err) {
    await sql?.end({ timeout: 1 });
    await cluster?.stop(10_000);
    throw err;
  }
}

/** Creates database `name` unless it exists; retries while the server is still starting. */
async function ensureDatabase(admin: ConnectOptions, name: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    const sql = connect({ ...admin, max: 1 });
    try {
      const [row] = await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`;
      if (!row) {
        try {
          await sql.unsafe(`CREATE DATABASE "${name}" ENCODING 'UTF8'`);
        } catch (err) {
          if ((err as { code?: string }).code !== '42P04') throw err; // duplicate_database: created meanwhile
        }
      }
      return;
    } catch (err) {
      if (!startingUp(err) || Date.now() > deadline) {
        throw new ApError(
          'DB_UNAVAILABLE',
          `cannot reach PostgreSQL at ${admin.socketDir} (port ${admin.port}); is it running? (on a box: /etc/init.d/S50postgresql start)`,
          { cause: err },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** attempt, 2000)));
    } finally {
      await sql.end({ timeout: 1 });
    }
  }
}

/** Errors that mean "not yet": no socket, refused, or the server still starting (57P03). */
function startingUp(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === '57P03' || code === 'CONNECT_TIMEOUT';
}
export { settingDefault, settingRoutes, settingValue, type SettingSpec, type SettingSpecs } from './registry';
export type { SettingView } from './views';
