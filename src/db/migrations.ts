// The manager database's schema, as versioned migrations. Each runs in its own
// transaction together with the row that records it, so a failed migration
// leaves the schema exactly as the previous one left it.
import type { Sql } from 'postgres';
import { ApError } from '../errors';
import type { Logger } from '../log';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL run in one transaction; may hold several statements. */
  readonly up: string;
}

/** The manager schema. Append only: never edit a migration that has shipped. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'config',
    // name/value pairs; the seed's recovery commands delete rows by name
    // (DELETE FROM config WHERE name='webserverCertificate').
    up: `
      CREATE TABLE config (
        name  text PRIMARY KEY,
        value text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 2,
    name: 'instances',
    // One row per app instance (src/records). db_password is the
    // role's password; it changes in the same transaction as ALTER ROLE.
    // Instance roles log in with passwords: the manager database is not theirs.
    up: `
      CREATE TABLE instances (
        name            text NOT NULL,
        domain          text NOT NULL,
        service         text NOT NULL,
        path            text NOT NULL CONSTRAINT instances_path_key UNIQUE,
        password        text NOT NULL,
        db_name         text NOT NULL CONSTRAINT instances_db_name_key UNIQUE,
        db_user         text NOT NULL CONSTRAINT instances_db_user_key UNIQUE,
        db_password     text NOT NULL,
        ext_host        text,
        ext_port        integer,
        ext_name        text,
        ext_user        text,
        ext_password    text,
        trace_flags     bigint NOT NULL,
        exclude_backup  boolean NOT NULL DEFAULT false,
        max_body_bytes  bigint,
        wanted          text NOT NULL CHECK (wanted IN ('running', 'stopped')),
        phase           text NOT NULL CHECK (phase IN ('provisioning', 'ready', 'deleting')),
        drop_database   boolean NOT NULL DEFAULT false,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT instances_pkey PRIMARY KEY (name, domain),
        CHECK ((ext_host IS NULL) = (ext_name IS NULL) AND (ext_host IS NULL) = (ext_user IS NULL))
      );
      DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM public', current_database()); END $$;
    `,
  },
  {
    version: 3,
    name: 'packages',
    // The installed package of each service, as it was installed (src/packages):
    // what a standby, a restored Manager backup or a new box installs its apps
    // from. One row per service (its app.json's name, version and build
    // label), one per folder, file or link of the package folder (relative
    // path with "/", mode bits, size and SHA-256 of a file, target of a link),
    // a file's bytes in chunks of at most 1 MiB (seq from 0), so that neither
    // writing nor reading ever holds a whole file. An install replaces a
    // service's rows in one transaction. The foreign keys are checked at
    // commit: a Manager restore copies the tables in name order, chunks first.
    up: `
      CREATE TABLE packages (
        service    text PRIMARY KEY,
        version    text NOT NULL,
        label      text NOT NULL,
        files      integer NOT NULL,
        bytes      bigint NOT NULL,
        stored_at  timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE package_files (
        service  text NOT NULL REFERENCES packages ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        path     text NOT NULL,
        kind     text NOT NULL CHECK (kind IN ('dir', 'file', 'link')),
        mode     integer NOT NULL,
        size     bigint NOT NULL DEFAULT 0,
        sha256   text,
        target   text,
        PRIMARY KEY (service, path),
        CHECK ((kind = 'file') = (sha256 IS NOT NULL) AND (kind = 'link') = (target IS NOT NULL))
      );
      CREATE TABLE package_chunks (
        service  text NOT NULL,
        path     text NOT NULL,
        seq      integer NOT NULL CHECK (seq >= 0),
        bytes    bytea NOT NULL CHECK (octet_length(bytes) <= 1048576),
        PRIMARY KEY (service, path, seq),
        FOREIGN KEY (service, path) REFERENCES package_files ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
      );
    `,
  },
  {
    version: 4,
    name: 'replication standbys',
    // A primary's standbys (src/replication): in the replicated database on
    // purpose, so a standby promoted later still offers them. The name is
    // stored lower-cased (a domain name), so the key is case-insensitive; the
    // password is shown to the administrator to hand over, hence kept as is.
    up: `
      CREATE TABLE replication_standbys (
        name       text PRIMARY KEY CHECK (name = lower(name)),
        password   text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 5,
    name: 'api tokens',
    // The administrator's API tokens (src/tokens): the public id that finds
    // the row, and only the SHA-256 of the secret. Names are unique without
    // case, so "CI" and "ci" are never two tokens to revoke the wrong one of.
    up: `
      CREATE TABLE api_tokens (
        id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
        name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$'),
        scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['admin', 'read', 'installer', 'metrics']),
        secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
        created_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz,
        last_used_at  timestamptz
      );
      CREATE UNIQUE INDEX api_tokens_name_key ON api_tokens (lower(name));
    `,
  },
  {
    version: 6,
    name: 'packages by the installer',
    // Whether the App Installer installed the service (src/installer): only
    // such a service may it uninstall again; one the administrator installed
    // stays. An update replaces the row and keeps the flag. Services installed
    // before count as the administrator's: which, nothing recorded.
    up: `
      ALTER TABLE packages ADD COLUMN by_installer boolean NOT NULL DEFAULT false;
    `,
  },
];

export interface MigrationResult {
  readonly from: number;
  readonly to: number;
  readonly applied: readonly number[];
}

/** Brings the schema up to the last of `migrations`; throws MIGRATION_FAILED or SCHEMA_TOO_NEW. */
export async function migrate(sql: Sql, migrations: readonly Migration[], log: Logger): Promise<MigrationResult> {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) {
      throw new Error(`migrations out of order at version ${migrations[i]!.version}`);
    }
  }
  await sql`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer PRIMARY KEY,
      name       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
  const from = await currentVersion(sql);
  const latest = migrations.at(-1)?.version ?? 0;
  if (from > latest) {
    throw new ApError(
      'SCHEMA_TOO_NEW',
      `the manager database has schema version ${from}, newer than this supervisor knows (${latest}); run the newer supervisor or restore a matching backup`,
    );
  }
  const applied: number[] = [];
  for (const migration of migrations) {
    if (migration.version <= from) continue;
    try {
      await sql.begin(async (tx) => {
        // One migrator at a time, even if two processes share a cluster.
        await tx`SELECT pg_advisory_xact_lock(${0x6170_6d69})`;
        const [done] = await tx`SELECT 1 FROM schema_migrations WHERE version = ${migration.version}`;
        if (done) return;
        await tx.unsafe(migration.up);
        await tx`INSERT INTO schema_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
      });
    } catch (err) {
      const kept = applied.at(-1) ?? from;
      throw new ApError(
        'MIGRATION_FAILED',
        `migration ${migration.version} (${migration.name}) failed and was rolled back; the manager database stays at schema version ${kept}`,
        { cause: err },
      );
    }
    applied.push(migration.version);
    log.info(`schema migration ${migration.version} (${migration.name}) applied`);
  }
  return { from, to: applied.at(-1) ?? from, applied };
}

/** The highest applied migration, 0 for a new database. */
export async function currentVersion(sql: Sql): Promise<number> {
  const [row] = await sql<{ version: number | null }[]>`SELECT max(version) AS version FROM schema_migrations`;
  return row?.version ?? 0;
}
