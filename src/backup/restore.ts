// Restoring without trusting the dump. pg_restore never connects as the
// superuser: it logs in (password, on the local socket) as a fresh role made
// for this one restore, with no attributes and no memberships, which owns only
// the scratch database it restores into. Whatever a tampered dump says (RESET
// ROLE, COPY … TO PROGRAM, a C function), it runs with that role's rights.
// The supervisor (superuser) prepares before and finishes after, with its own
// statements only.
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Sql } from 'postgres';
import { connect, migrate, MIGRATIONS, quoteIdent, quoteLiteral } from '../db';
import { ApError } from '../errors';
import { checkDbIdentifier } from '../instances';
import type { Logger } from '../log';
import type { PgConnection } from './pg';

export interface Cluster {
  readonly socketDir: string;
  readonly port: number;
}

/** Creates the restore's own role (named like its scratch database): login by password, nothing else. */
export async function createRestoreRole(sql: Sql, cluster: Cluster, name: string): Promise<PgConnection> {
  const password = randomBytes(24).toString('base64url');
  await sql.unsafe(
    `CREATE ROLE ${quoteIdent(name)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 2 PASSWORD ${quoteLiteral(password)}`,
  );
  return { host: cluster.socketDir, port: cluster.port, user: name, password };
}

/** Drops a scratch database and the restore role of the same name; missing ones are fine. */
export async function dropScratch(sql: Sql, name: string): Promise<void> {
  await sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  await sql.unsafe(`DROP ROLE IF EXISTS ${quoteIdent(name)}`);
}

/** Runs `fn` on a superuser connection to `database`, closed afterwards. */
export async function onDatabase<T>(cluster: Cluster, database: string, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = connect({ socketDir: cluster.socketDir, port: cluster.port, database, max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * After an instance restore: everything the restore role made becomes the
 * instance role's, and the restore role goes. Run on the scratch database
 * (named like the role). Settings the restore role put on its database (a
 * search_path, say) go too: superuser tools connect to it later.
 */
export async function handOver(scratchSql: Sql, restorer: string, owner: string): Promise<void> {
  await scratchSql.unsafe(`ALTER DATABASE ${quoteIdent(restorer)} RESET ALL`);
  await scratchSql.unsafe(`REASSIGN OWNED BY ${quoteIdent(restorer)} TO ${quoteIdent(owner)}`);
  await scratchSql.unsafe(`DROP OWNED BY ${quoteIdent(restorer)}`);
}

/**
 * The roles among `names` that exist with more than an instance role's
 * rights: a restore must never set the password of such a role or give it
 * the restored objects.
 */
export async function privilegedRoles(sql: Sql, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const rows = await sql<{ rolname: string }[]>`
    SELECT r.rolname FROM pg_roles r
     WHERE r.rolname IN ${sql(names as string[])}
       AND (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls
            OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid))`;
  return rows.map((r) => r.rolname);
}

export function refusePrivileged(roles: readonly string[], what: string): void {
  if (roles.length) {
    throw new ApError('BAD_BACKUP', `${what} names database user ${roles.map((r) => `"${r}"`).join(', ')}, a role with more rights than an instance's (superuser, role or database creation, replication or membership): the restore would hand it over; nothing was changed`);
  }
}

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {}, child: () => quiet, close() {} };

/** Tables and sequences of schema public in a manager-schema database, schema_migrations aside. */
export async function managerObjects(sql: Sql): Promise<{ tables: Set<string>; sequences: Set<string> }> {
  const tables = await sql<{ name: string }[]>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`;
  const sequences = await sql<{ name: string }[]>`SELECT sequencename AS name FROM pg_sequences WHERE schemaname = 'public'`;
  return { tables: new Set(tables.map((t) => t.name)), sequences: new Set(sequences.map((s) => s.name)) };
}

/**
 * Empties the scratch database's tables (rows a migration may have put there
 * come from the backup instead, as they did when the whole database was
 * restored) and gives the restore role what a data-only restore into them
 * needs, and nothing else.
 */
export async function prepareDataOnly(scratchSql: Sql, scratch: string, restorer: string, tables: ReadonlySet<string>): Promise<void> {
  if (tables.size) await scratchSql.unsafe(`TRUNCATE ${[...tables].map((t) => `public.${quoteIdent(t)}`).join(', ')}`);
  const role = quoteIdent(restorer);
  await scratchSql.unsafe(`GRANT CONNECT ON DATABASE ${quoteIdent(scratch)} TO ${role}`);
  await scratchSql.unsafe(`GRANT USAGE ON SCHEMA public TO ${role}`);
  await scratchSql.unsafe(`GRANT INSERT ON ALL TABLES IN SCHEMA public TO ${role}`);
  await scratchSql.unsafe(`GRANT SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
}

/** Creates the manager schema of `version` in a scratch database (the supervisor's own migrations). */
export async function migrateScratch(scratchSql: Sql, version: number): Promise<void> {
  await migrate(scratchSql, MIGRATIONS.filter((m) => m.version <= version), quiet);
}

/** Brings a restored scratch manager database to this supervisor's schema. */
export async function migrateScratchToLatest(scratchSql: Sql): Promise<void> {
  await migrate(scratchSql, MIGRATIONS, quiet);
}

/** Refuses instance rows a Manager restore would provision wrongly: reserved names, or users that are privileged roles. */
export async function checkRestoredInstances(scratchSql: Sql, live: Sql): Promise<void> {
  const rows = await scratchSql<{ name: string; domain: string; db_name: string; db_user: string }[]>`SELECT name, domain, db_name, db_user FROM instances`;
  for (const row of rows) {
    try {
      checkDbIdentifier(row.db_name, 'dbName');
      checkDbIdentifier(row.db_user, 'dbUser');
    } catch (err) {
      throw new ApError('BAD_BACKUP', `the Manager backup's instance ${row.name}@${row.domain} is not valid (${(err as Error).message}); nothing was changed`, { cause: err });
    }
    if (row.db_name.startsWith('ap_restore_') || row.db_name.startsWith('ap_trash_') || row.db_user.startsWith('ap_restore_')) {
      throw new ApError('BAD_BACKUP', `the Manager backup's instance ${row.name}@${row.domain} uses a name the supervisor keeps for restores; nothing was changed`);
    }
  }
  refusePrivileged(await privilegedRoles(live, rows.map((r) => r.db_user)), 'the Manager backup');
}

/**
 * Tables a Manager restore leaves as they are on the box. API tokens are
 * grants of the box's present, not data: a backup's copy would bring back a
 * token revoked since (one that leaked) and drop those made since.
 */
const KEPT_ON_RESTORE: readonly string[] = ['api_tokens'];

/**
 * Replaces the rows of the live manager database by those of the restored
 * scratch one, in one transaction: every table of schema public but
 * schema_migrations (both are at the same schema) and KEPT_ON_RESTORE, and
 * the sequences' values. Only data moves, through COPY; no statement comes
 * from the backup.
 */
export async function copyManagerData(live: Sql, scratchSql: Sql): Promise<void> {
  await live.begin(async (tx) => {
    const tables = (await tx<{ name: string }[]>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY tablename`)
      .map((t) => t.name)
      .filter((name) => !KEPT_ON_RESTORE.includes(name));
    if (tables.length) await tx.unsafe(`TRUNCATE ${tables.map((t) => `public.${quoteIdent(t)}`).join(', ')}`);
    for (const table of tables) {
      const qualified = `public.${quoteIdent(table)}`;
      const columns = await tx<{ name: string }[]>`
        SELECT attname AS name FROM pg_attribute
         WHERE attrelid = ${qualified}::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
         ORDER BY attnum`;
      const list = columns.map((c) => quoteIdent(c.name)).join(', ');
      const source = await scratchSql.unsafe(`COPY (SELECT ${list} FROM ${qualified}) TO STDOUT`).readable();
      const sink = await tx.unsafe(`COPY ${qualified} (${list}) FROM STDIN`).writable();
      await pipeline(source, sink);
      // postgres.js pauses the socket when a row fills the stream's buffer and resumes it only from the
      // stream's read(); when the end of the copy came in the same read, the stream ends with the socket
      // paused, the rest of the answer is never read, and the next table's COPY waited forever (likely
      // with the packages' large rows). Its read() does nothing but resume the socket.
      (source as unknown as { _read(size: number): void })._read(0);
    }
    const sequences = await scratchSql<{ name: string }[]>`SELECT sequencename AS name FROM pg_sequences WHERE schemaname = 'public'`;
    for (const { name } of sequences) {
      const qualified = `public.${quoteIdent(name)}`;
      const [exists] = await tx`SELECT 1 FROM pg_sequences WHERE schemaname = 'public' AND sequencename = ${name}`;
      if (!exists) continue;
      const [state] = await scratchSql.unsafe<{ last_value: string; is_called: boolean }[]>(`SELECT last_value::text, is_called FROM ${qualified}`);
      await tx`SELECT setval(${qualified}::regclass, ${state!.last_value}::bigint, ${state!.is_called})`;
    }
  });
}
