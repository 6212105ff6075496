// A raw standby cluster for tests of the primary's side: plain
// `pg_basebackup -R` over TLS with a standby entry's role, slot and password,
// then PostgreSQL on the copy as a hot standby (Unix socket only), stopped
// and started again by its pid. No supervisor runs it.
import { spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { clusterAccount, connect, findPgBin, findPgTools, startCluster, type Cluster } from '../../src/db';
import { createLogger } from '../../src/log';

export interface RawStandby {
  /** The copy (PGDATA). */
  readonly dataDir: string;
  readonly socketDir: string;
  readonly port: number;
  /** The postmaster's pid, or null while stopped. */
  readonly pid: number | null;
  /** Stops it (fast shutdown of its postmaster). */
  stop(): Promise<void>;
  /** Starts it again on the same copy: it goes on from its slot. */
  start(): Promise<void>;
  /** The last lines its server printed (why it does not stream). */
  tail(): string;
  /** A connection as the superuser (peer, over its socket), ended by the caller. */
  connect(database: string): Sql;
}

export interface StandbyEntry {
  readonly role: string;
  readonly slot: string;
  readonly password: string;
}

/** Copies the primary listening on 127.0.0.1:`primaryPort` into a folder below `under` and starts it as a standby on `port` (its socket only). */
export async function makeRawStandby(under: string, primaryPort: number, entry: StandbyEntry, port: number): Promise<RawStandby> {
  const account = clusterAccount();
  const base = await mkdtemp(join(under, 'standby-'));
  const dataDir = join(base, 'data');
  const socketDir = join(base, 'run');
  await mkdir(dataDir, { mode: 0o700 });
  if (account) await chown(base, account.uid, account.gid);
  if (account) await chown(dataDir, account.uid, account.gid);
  const bin = findPgBin(process.env.AP_PG_BIN ?? null);
  // The postmaster inherits root's HOME, where libpq looks for a client certificate and, not allowed in, gives up: none is used.
  const noCert = join(base, 'no-client-certificate');
  const args = ['-d', `host=127.0.0.1 port=${primaryPort} user=${entry.role} sslmode=require sslcert=${noCert} sslkey=${noCert}`, '-D', dataDir, '-X', 'stream', '-S', entry.slot, '-c', 'fast', '-R', '--no-password'];
  await new Promise<void>((resolve, reject) => {
    // As the cluster's account: PostgreSQL refuses a copy that is root's.
    const child = spawn(join(findPgTools(bin), 'pg_basebackup'), args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '', PGPASSWORD: entry.password, PGCONNECT_TIMEOUT: '10' },
      ...(account ? { uid: account.uid, gid: account.gid } : {}),
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_basebackup exited with ${code}: ${stderr}`))));
  });
  let cluster: Cluster | null = null;
  const start = async () => {
    cluster = await startCluster({
      dataDir,
      socketDir,
      port,
      bin,
      log: createLogger({ level: 'warn', file: null }).child('raw-standby'),
      // The copy has the primary's replication.conf (TCP on 127.0.0.1): this one stays on its socket.
      settings: { listen_addresses: '' },
    });
  };
  await start();
  return {
    dataDir,
    socketDir,
    port,
    get pid() {
      return cluster?.pid ?? null;
    },
    async stop() {
      const running = cluster;
      cluster = null;
      await running?.stop(20_000);
    },
    start,
    tail: () => cluster?.tail() ?? '',
    connect: (database) => connect({ socketDir, port, database, max: 1 }),
  };
}
