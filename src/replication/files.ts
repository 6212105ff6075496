// Writes what conf.ts renders into the cluster's folder, each file whole
// (fsutil: .new, fsync, rename), owned by the account that runs PostgreSQL.
// The certificate and key are written under names of their own digest before
// replication.conf names them: a power cut leaves the old pair named or the
// new one, never a key beside another certificate (PostgreSQL would not start).
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextIfExists, writeFileAtomic } from '../fsutil';
import { CONF_FILE, renderConf, withHbaRules, withInclude, type Mode } from './conf';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export interface FilesWanted {
  readonly mode: Mode;
  readonly listen: string;
  /** The standby roles pg_hba.conf lets in. */
  readonly roles: readonly string[];
  /** The webserver's certificate chain and key (PEM). */
  readonly tls: { readonly certPem: string; readonly keyPem: string };
}

export interface FilesChanged {
  /** replication.conf or the certificate changed: a reload at least. */
  readonly conf: boolean;
  readonly hba: boolean;
  /** There is a replication.conf (PostgreSQL listens where it says). */
  readonly written: boolean;
}

const PAIR = /^replication-[0-9a-f]{16}\.(crt|key)$/;

/**
 * Brings replication.conf, the certificate pair, postgresql.conf's include
 * and pg_hba.conf's block in `dataDir` to `wanted`; says what changed. Off
 * without a replication.conf yet writes nothing: the cluster stays as it was made.
 */
export async function writeFiles(dataDir: string, wanted: FilesWanted, owner: Owner | null): Promise<FilesChanged> {
  const confPath = join(dataDir, CONF_FILE);
  const before = await readTextIfExists(confPath);
  let conf = false;
  if (wanted.mode === 'primary' || before !== null) {
    const digest = createHash('sha256').update(wanted.tls.certPem).update(wanted.tls.keyPem).digest('hex').slice(0, 16);
    const certFile = `replication-${digest}.crt`;
    const keyFile = `replication-${digest}.key`;
    if (wanted.mode === 'primary') {
      // PostgreSQL refuses a key that others may read.
      if ((await readTextIfExists(join(dataDir, keyFile))) !== wanted.tls.keyPem) await writeFileAtomic(join(dataDir, keyFile), wanted.tls.keyPem, 0o600, owner);
      if ((await readTextIfExists(join(dataDir, certFile))) !== wanted.tls.certPem) await writeFileAtomic(join(dataDir, certFile), wanted.tls.certPem, 0o600, owner);
    }
    // Included first: a replication.conf that is not included would leave a managed cluster on PostgreSQL's default, localhost.
    await ensureInclude(dataDir, owner);
    const text = renderConf({ mode: wanted.mode, listen: wanted.listen, certFile, keyFile });
    if (text !== before) {
      await writeFileAtomic(confPath, text, 0o600, owner);
      conf = true;
    }
    // Pairs replication.conf no longer names (an older certificate, or all of them when off).
    const keep = wanted.mode === 'primary' ? new Set([certFile, keyFile]) : new Set<string>();
    for (const entry of await readdir(dataDir)) if (PAIR.test(entry) && !keep.has(entry)) await rm(join(dataDir, entry), { force: true });
  }
  const hbaPath = join(dataDir, 'pg_hba.conf');
  const hbaBefore = (await readTextIfExists(hbaPath)) ?? '';
  const hbaText = withHbaRules(hbaBefore, wanted.mode === 'primary' ? wanted.roles : []);
  const hba = hbaText !== hbaBefore;
  if (hba) await writeFileAtomic(hbaPath, hbaText, 0o600, owner);
  return { conf, hba, written: wanted.mode === 'primary' || before !== null };
}

/** postgresql.conf includes replication.conf (S50postgresql's init adds it; a cluster made before, or by initdb, gets it here). */
async function ensureInclude(dataDir: string, owner: Owner | null): Promise<void> {
  const path = join(dataDir, 'postgresql.conf');
  const text = await readFile(path, 'utf8');
  const next = withInclude(text);
  if (next === null) return;
  const { mode } = await stat(path);
  await writeFileAtomic(path, next, mode & 0o777, owner);
}
