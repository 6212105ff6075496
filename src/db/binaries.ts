// Finding the PostgreSQL server binaries and the user that runs them.
import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ApError } from '../errors';

const NEEDED = ['postgres', 'initdb'];

/** The folder holding `postgres` and `initdb`: `configured`, else PATH, else the newest /usr/lib/postgresql/<v>/bin. */
export function findPgBin(configured: string | null, pathEnv = process.env.PATH ?? ''): string {
  const has = (dir: string) => NEEDED.every((name) => existsSync(join(dir, name)));
  if (configured !== null) {
    if (has(configured)) return configured;
    throw new ApError('PG_NOT_FOUND', `${configured} does not hold the PostgreSQL server binaries (${NEEDED.join(', ')})`);
  }
  for (const dir of pathEnv.split(delimiter)) if (dir && has(dir)) return dir;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) if (has(join(base, version, 'bin'))) return join(base, version, 'bin');
  throw new ApError(
    'PG_NOT_FOUND',
    'PostgreSQL server binaries (postgres, initdb) not found on PATH or under /usr/lib/postgresql/*/bin: install them (apt-get install postgresql) or pass --pg-bin',
  );
}

/**
 * The folder of the client programs (vacuumdb, pg_dump, pg_restore) that go
 * with the server in `serverBin`: where its `postgres` really lives (PATH may
 * hold only links to the server programs).
 */
export function findPgTools(serverBin: string): string {
  const dir = dirname(realpathSync(join(serverBin, 'postgres')));
  if (!existsSync(join(dir, 'vacuumdb'))) {
    throw new ApError('PG_NOT_FOUND', `the PostgreSQL client programs (vacuumdb, pg_dump) are not beside ${join(dir, 'postgres')}: install them (apt-get install postgresql-client)`);
  }
  return dir;
}

export interface Account {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The account from /etc/passwd called `name`, or null. */
export function lookupAccount(name: string, passwd = '/etc/passwd'): Account | null {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 4) {
      const uid = Number(fields[2]);
      const gid = Number(fields[3]);
      if (Number.isInteger(uid) && Number.isInteger(gid)) return { name, uid, gid };
    }
  }
  return null;
}

/** Who runs the cluster: `postgres` when we are root (PostgreSQL refuses root), else ourselves. */
export function clusterAccount(): Account | null {
  if (process.getuid?.() !== 0) return null;
  const account = lookupAccount('postgres');
  if (!account) {
    throw new ApError(
      'PG_NO_USER',
      "PostgreSQL will not run as root and this machine has no 'postgres' user: install the postgresql package (it creates one) or run as another user",
    );
  }
  return account;
}
