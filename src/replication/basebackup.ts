// The standby's copy of the primary's cluster: pg_basebackup over TLS as the
// standby's role, from its slot, into a scratch folder beside the cluster,
// then the standby's own files written into the copy. Its failures become the
// codes an administrator can act on, with the primary's own words.
import { spawn } from 'node:child_process';
import { chown, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApError } from '../errors';
import { fsyncTree, writeFileAtomic } from '../fsutil';
import { conninfoValue, withHbaRules } from './conf';
import type { Owner } from './files';
import { standbyRole } from './names';
import { renderStandbyReplicationConf, type StandbyFiles } from './standbyconf';

export interface BaseBackupOptions extends StandbyFiles {
  /** Where the client programs are (pg_basebackup). */
  readonly bin: string;
  /** The scratch folder (must not exist; removed again on failure). */
  readonly into: string;
  /** Who runs PostgreSQL: the copy is that account's. */
  readonly owner: Owner | null;
  readonly timeoutMs?: number;
  /**
   * false: copy without the standby's slot (a temporary one keeps the WAL
   * meanwhile), because this box's own WAL receiver holds it: a standby
   * copying again from the primary it follows. Its slot keeps the WAL from
   * where that receiver is, before the copy, until the copy streams.
   */
  readonly useSlot?: boolean;
}

/** Takes the base backup and writes the standby's files into it; on failure the scratch folder is gone and the error says why. */
export async function takeBaseBackup(o: BaseBackupOptions): Promise<void> {
  await rm(o.into, { recursive: true, force: true });
  await mkdir(o.into, { mode: 0o700 });
  try {
    if (o.owner) await chown(o.into, o.owner.uid, o.owner.gid);
    const slot = standbyRole(o.name);
    const conninfo = `host=${conninfoValue(o.primary.host)} port=${o.primary.port} user=${slot} sslmode=require application_name=${conninfoValue(o.name)} connect_timeout=10`;
    const args = ['-d', conninfo, '-D', o.into, '-X', 'stream', ...(o.useSlot === false ? [] : ['-S', slot]), '-c', 'fast', '--no-password'];
    const { code, stderr } = await run(join(o.bin, 'pg_basebackup'), args, o.password, o.owner, o.timeoutMs ?? 30 * 60_000);
    if (code !== 0) throw classify(stderr, o);
    await prepareCopy(o.into, o, o.owner);
    await fsyncTree(o.into);
  } catch (err) {
    await rm(o.into, { recursive: true, force: true });
    throw err;
  }
}

/** The primary's refusal as one of our codes (pg_basebackup says it in text only; its lines are libpq's and the server's). */
export function classify(stderr: string, where: { primary: { host: string; port: number }; name: string }): ApError {
  const said = stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' / ') || 'pg_basebackup failed without a message';
  const at = `${where.primary.host} port ${where.primary.port}`;
  if (/password authentication failed/.test(stderr)) {
    return new ApError('STANDBY_AUTH', `the primary ${at} refused the password of standby ${where.name}: use the password the primary shows for it, exactly as given (${said})`);
  }
  // A PostgreSQL without TLS is not one of ours as primary (a primary serves TLS).
  if (/no pg_hba\.conf entry|replication slot "[^"]*" does not exist|role "[^"]*" does not exist|server does not support SSL/.test(stderr)) {
    return new ApError('STANDBY_UNKNOWN', `the primary ${at} knows no standby named ${where.name} (or is not a primary): add it there first (ap ctl replication add ${where.name}) (${said})`);
  }
  // The seed: one name on two standbys breaks at least one of them.
  if (/replication slot "[^"]*" is active for PID/.test(stderr)) {
    return new ApError(
      'STANDBY_IN_USE',
      `the primary ${at} has a standby streaming as ${where.name} now: every standby needs a name of its own: add another there, or stop the box that streams as ${where.name} (${said})`,
    );
  }
  // Something else answers on that port (the Manager's HTTPS, say): no PostgreSQL is reached there.
  if (/could not connect|Connection refused|could not translate host name|timeout expired|No route to host|Network is unreachable|server closed the connection|invalid response to SSL negotiation/i.test(stderr)) {
    return new ApError('PRIMARY_UNREACHABLE', `cannot reach the primary at ${at}: is it on, primary, and its port reachable from here? (${said})`);
  }
  return new ApError('REPLICATION_FAILED', `the base backup from ${at} failed: ${said}`);
}

/**
 * The copy as this standby's cluster: replication.conf in standby form,
 * standby.signal, pg_hba.conf without the primary's replication block, and
 * none of the primary's certificate pairs (a standby listens on its socket only).
 */
export async function prepareCopy(dataDir: string, f: StandbyFiles, owner: Owner | null): Promise<void> {
  await writeFileAtomic(join(dataDir, 'replication.conf'), renderStandbyReplicationConf(f), 0o600, owner);
  await writeFileAtomic(join(dataDir, 'standby.signal'), '', 0o600, owner);
  const hba = join(dataDir, 'pg_hba.conf');
  await writeFileAtomic(hba, withHbaRules(await readFile(hba, 'utf8'), []), 0o600, owner);
  for (const entry of await readdir(dataDir)) if (/^replication-[0-9a-f]{16}\.(crt|key)$/.test(entry)) await rm(join(dataDir, entry), { force: true });
}

/** Runs a client program with the password in its environment (never on its argv), as `owner`. */
function run(program: string, args: string[], password: string, owner: Owner | null, timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', LC_ALL: 'C' },
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 16_384) stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new ApError('REPLICATION_FAILED', `cannot run ${program}: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
