// A real PostgreSQL for tests. `npm test` (tools/test.mjs) starts one cluster
// for the whole run and passes its socket in AP_TEST_PG_SOCKET/AP_TEST_PG_PORT;
// a test file run on its own starts a private one. Every test gets its own
// database, dropped afterwards.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { connect, findPgBin, startCluster, type Cluster } from '../../src/db';
import { createLogger } from '../../src/log';
import { notInUnitTier } from './tier';

export interface TestCluster {
  readonly socketDir: string;
  readonly port: number;
  /** Stops the cluster if this process started it. */
  stop(): Promise<void>;
}

export interface TestDatabase {
  readonly name: string;
  readonly sql: Sql;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** Starts a cluster in a fresh temporary folder (world-searchable, so the postgres user can reach it when we are root). */
export async function startTestCluster(): Promise<TestCluster & { readonly dir: string }> {
  notInUnitTier('PostgreSQL');
  const dir = await mkdtemp(join(tmpdir(), 'ap-pg-'));
  await chmod(dir, 0o755);
  const socketDir = join(dir, 'run');
  const port = 5432;
  let cluster: Cluster;
  try {
    cluster = await startCluster({
      dataDir: join(dir, 'data'),
      socketDir,
      port,
      bin: findPgBin(process.env.AP_PG_BIN ?? null),
      log: createLogger({ level: 'warn', file: null }).child('test-postgres'),
      // Tests throw clusters away: durability buys nothing here.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    socketDir,
    port,
    async stop() {
      await cluster.stop(20_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let shared: Promise<TestCluster> | undefined;

/** The run's shared cluster, or a private one started on first use. */
export function testCluster(): Promise<TestCluster> {
  shared ??= (async () => {
    const socketDir = process.env.AP_TEST_PG_SOCKET;
    if (socketDir) return { socketDir, port: Number(process.env.AP_TEST_PG_PORT ?? 5432), stop: async () => {} };
    return startTestCluster();
  })();
  return shared;
}

/** Stops the private cluster, if this process started one. */
export async function stopTestCluster(): Promise<void> {
  if (shared) await (await shared).stop();
  shared = undefined;
}

/** A new, empty database on the test cluster. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const cluster = await testCluster();
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = connect({ socketDir: cluster.socketDir, port: cluster.port, database: 'postgres', max: 1 });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const sql = connect({ socketDir: cluster.socketDir, port: cluster.port, database: name });
  return {
    name,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      const admin = connect({ socketDir: cluster.socketDir, port: cluster.port, database: 'postgres', max: 1 });
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 1 });
      }
    },
  };
}
