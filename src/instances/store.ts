// Instances in the manager database (table `instances`, migration 2), and the
// database side of each: the seed's "Database creation" statements, run so
// that a run cut anywhere can simply be run again (each step branches on the
// SQLSTATE of "already there"), and their undoing.
import type { Sql, TransactionSql } from 'postgres';
import { ApError } from '../errors';
import { instanceId, InvalidField, type Instance, type Phase, type Wanted } from '../records';
import { quoteIdent, quoteLiteral, SQLSTATE, sqlState } from '../db';

type Db = Sql | TransactionSql;

interface Row {
  name: string;
  domain: string;
  service: string;
  path: string;
  password: string;
  db_name: string;
  db_user: string;
  db_password: string;
  ext_host: string | null;
  ext_port: number | null;
  ext_name: string | null;
  ext_user: string | null;
  ext_password: string | null;
  trace_flags: string;
  exclude_backup: boolean;
  max_body_bytes: string | null;
  wanted: Wanted;
  phase: Phase;
  drop_database: boolean;
}

function fromRow(r: Row): Instance {
  return {
    service: r.service,
    name: r.name,
    domain: r.domain,
    path: r.path,
    password: r.password,
    dbName: r.db_name,
    dbUser: r.db_user,
    dbPassword: r.db_password,
    external:
      r.ext_host === null ? null : { host: r.ext_host, port: r.ext_port ?? 5432, name: r.ext_name ?? '', user: r.ext_user ?? '', password: r.ext_password ?? '' },
    traceFlags: Number(r.trace_flags),
    excludeFromBackup: r.exclude_backup,
    maxBodyBytes: r.max_body_bytes === null ? null : Number(r.max_body_bytes),
    wanted: r.wanted,
    phase: r.phase,
    dropDatabase: r.drop_database,
  };
}

function toRow(i: Instance): Row {
  return {
    name: i.name,
    domain: i.domain,
    service: i.service,
    path: i.path,
    password: i.password,
    db_name: i.dbName,
    db_user: i.dbUser,
    db_password: i.dbPassword,
    ext_host: i.external?.host ?? null,
    ext_port: i.external?.port ?? null,
    ext_name: i.external?.name ?? null,
    ext_user: i.external?.user ?? null,
    ext_password: i.external?.password ?? null,
    trace_flags: String(i.traceFlags),
    exclude_backup: i.excludeFromBackup,
    max_body_bytes: i.maxBodyBytes === null ? null : String(i.maxBodyBytes),
    wanted: i.wanted,
    phase: i.phase,
    drop_database: i.dropDatabase,
  };
}

const COLUMNS: (keyof Row)[] = [
  'name', 'domain', 'service', 'path', 'password', 'db_name', 'db_user', 'db_password',
  'ext_host', 'ext_port', 'ext_name', 'ext_user', 'ext_password',
  'trace_flags', 'exclude_backup', 'max_body_bytes', 'wanted', 'phase', 'drop_database',
];

export async function loadInstances(sql: Db): Promise<Instance[]> {
  const rows = await sql<Row[]>`SELECT ${sql(COLUMNS)} FROM instances ORDER BY domain, name`;
  return rows.map(fromRow);
}

/** Inserts a new instance; a clash on a unique column is an InvalidField naming it. */
export async function insertInstance(sql: Db, instance: Instance): Promise<void> {
  try {
    await sql`INSERT INTO instances ${sql(toRow(instance), COLUMNS)}`;
  } catch (err) {
    throw clash(err, instance);
  }
}

/** Writes every field of `instance` over its row. */
export async function saveInstance(sql: Db, instance: Instance): Promise<void> {
  const row = toRow(instance);
  const { name, domain, ...rest } = row;
  try {
    const result = await sql`UPDATE instances SET ${sql(rest)}, updated_at = now() WHERE name = ${name} AND domain = ${domain}`;
    if (result.count !== 1) throw new ApError('NOT_FOUND', `no instance ${instanceId(instance)}`);
  } catch (err) {
    throw clash(err, instance);
  }
}

export async function deleteInstanceRow(sql: Db, instance: Instance): Promise<void> {
  await sql`DELETE FROM instances WHERE name = ${instance.name} AND domain = ${instance.domain}`;
}

function clash(err: unknown, instance: Instance): unknown {
  if (sqlState(err) !== SQLSTATE.uniqueViolation) return err;
  const constraint = (err as { constraint_name?: string }).constraint_name;
  switch (constraint) {
    case 'instances_pkey':
      return new ApError('EXISTS', `instance ${instanceId(instance)} exists already`);
    case 'instances_path_key':
      return new InvalidField('path', `${instance.path} is the path of another instance`);
    case 'instances_db_name_key':
      return new InvalidField('dbName', `"${instance.dbName}" is the database of another instance`);
    case 'instances_db_user_key':
      return new InvalidField('dbUser', `"${instance.dbUser}" is the database user of another instance`);
    default:
      return err;
  }
}

/** Whether the database and the role exist in the cluster (for create: they must not, unless adopted). */
export async function databaseObjects(sql: Db, instance: Pick<Instance, 'dbName' | 'dbUser'>): Promise<{ database: boolean; role: boolean }> {
  const [row] = await sql<{ database: boolean; role: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${instance.dbName}) AS database,
           EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${instance.dbUser}) AS role`;
  return row!;
}

/** The seed's statements for `instance`, each with the SQLSTATE that means "done before". */
export function provisioningSteps(instance: Pick<Instance, 'dbName' | 'dbUser' | 'dbPassword'>): { sql: string; done: string | null; label: string }[] {
  const db = quoteIdent(instance.dbName);
  const user = quoteIdent(instance.dbUser);
  return [
    { sql: `CREATE DATABASE ${db} ENCODING 'UTF8'`, done: SQLSTATE.duplicateDatabase, label: `CREATE DATABASE ${db}` },
    { sql: `CREATE USER ${user}`, done: SQLSTATE.duplicateObject, label: `CREATE USER ${user}` },
    { sql: `ALTER USER ${user} WITH PASSWORD ${quoteLiteral(instance.dbPassword)}`, done: null, label: `ALTER USER ${user} WITH PASSWORD '…'` },
    { sql: `GRANT ALL PRIVILEGES ON DATABASE ${db} TO ${user}`, done: null, label: `GRANT ALL PRIVILEGES ON DATABASE ${db}` },
    { sql: `ALTER DATABASE ${db} OWNER TO ${user}`, done: null, label: `ALTER DATABASE ${db} OWNER TO ${user}` },
    { sql: `REVOKE CONNECT ON DATABASE ${db} FROM public`, done: null, label: `REVOKE CONNECT ON DATABASE ${db} FROM public` },
  ];
}

/**
 * Runs the provisioning statements; each commits on its own, so a cut leaves a
 * prefix done and running this again completes it. `afterStep` lets tests cut.
 */
export async function provisionDatabase(sql: Db, instance: Instance, afterStep?: (index: number) => Promise<void> | void): Promise<void> {
  const steps = provisioningSteps(instance);
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    try {
      await sql.unsafe(step.sql);
    } catch (err) {
      if (step.done === null || sqlState(err) !== step.done) {
        // Never the statement itself: it may hold the password.
        throw new ApError('PROVISIONING_FAILED', `${step.label} for ${instanceId(instance)} failed: ${(err as Error).message}`, { cause: err });
      }
    }
    await afterStep?.(index);
  }
}

/** The role's password and the stored one change together: one transaction, ALTER ROLE being transactional. */
export async function changeDatabasePassword(sql: Sql, instance: Instance, password: string): Promise<Instance> {
  const next = { ...instance, dbPassword: password };
  await sql.begin(async (tx) => {
    await saveInstance(tx, next);
    await tx.unsafe(`ALTER USER ${quoteIdent(instance.dbUser)} WITH PASSWORD ${quoteLiteral(password)}`);
  });
  return next;
}

/** Drops the instance's database (disconnecting its sessions) and role; missing ones are fine. */
export async function dropDatabase(sql: Db, instance: Pick<Instance, 'dbName' | 'dbUser'>): Promise<void> {
  await sql.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(instance.dbName)} WITH (FORCE)`);
  await sql.unsafe(`DROP ROLE IF EXISTS ${quoteIdent(instance.dbUser)}`);
}

/** Size in bytes of each instance database that exists. */
export async function databaseSizes(sql: Db, names: readonly string[]): Promise<Map<string, number>> {
  if (names.length === 0) return new Map();
  const rows = await sql<{ datname: string; size: string }[]>`
    SELECT datname, pg_database_size(datname)::text AS size FROM pg_database WHERE datname IN ${sql(names as string[])}`;
  return new Map(rows.map((r) => [r.datname, Number(r.size)]));
}
