// tier: integration (starts a managed PostgreSQL cluster of its own)
// The supervisor's connections on a small board: the backend that ran the
// migrations does not stay in the pool, connections a burst opened are let go
// once idle (what PostgreSQL's processes take is src/budget's, tested in
// test/budget/budget.test.ts against /proc).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { loadConfig, type Config } from '../../src/config';
import { connect, MIGRATIONS, openDatabase, type Database } from '../../src/db';
import { createLayout, layout } from '../../src/paths';
import { silentLogger } from '../harness/log';
import { workspace } from '../harness/workspace';

const log = silentLogger();

let dir: string;
let config: Config;
let database: Database | null = null;
// A last migration that writes down which backend ran it.
const RECORDING = [...MIGRATIONS, { version: MIGRATIONS.at(-1)!.version + 1, name: 'record the migrator', up: 'CREATE TABLE migrated_by AS SELECT pg_backend_pid() AS pid' }];

before(async () => {
  dir = await workspace('ap-db-memory-');
  config = loadConfig({ flags: { board: 'ipx10', root: dir, db: 'managed' }, env: {}, cwd: dir, uid: process.getuid?.() });
  const paths = layout(config.root);
  await createLayout(paths);
  database = await openDatabase(config, paths, log, RECORDING);
});

after(async () => {
  await database?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The supervisor's backends, once the one that migrated has exited (its exit follows the close of its socket). */
async function supervisorBackendsWithout(pid: number): Promise<number[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const rows = await database!.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE application_name = 'ap-supervisor'`;
    const pids = rows.map((r) => r.pid);
    if (!pids.includes(pid) || Date.now() > deadline) return pids;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the supervisor's connections", () => {
  it('lets the backend that ran the migrations go: the pool works on fresh ones', async () => {
    const [row] = await database!.sql<{ pid: number }[]>`SELECT pid FROM migrated_by`;
    const migrator = row!.pid;
    const [own] = await database!.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    assert.notEqual(own!.pid, migrator);
    const pids = await supervisorBackendsWithout(migrator);
    assert.ok(!pids.includes(migrator), `the migrating backend ${migrator} is still connected (${pids.join(', ')})`);
    assert.ok(pids.length >= 1 && pids.length <= config.board.dbPool, `at most dbPool ${config.board.dbPool} connections, saw ${pids.length}`);
  });
});

describe("the supervisor's pool", () => {
  it('closes the connections a burst opened once they stand idle, instead of keeping dbPool backends for good', async () => {
    const observer = connect({ socketDir: config.db.socketDir, port: config.db.port, database: 'postgres', max: 1 });
    const onManager = async () =>
      (await observer<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = 'manager' AND application_name = 'ap-supervisor'`)[0]!.n;
    try {
      await Promise.all(Array.from({ length: 10 }, () => database!.sql`SELECT pg_sleep(0.1)`));
      assert.equal(await onManager(), config.board.dbPool, 'the burst used the whole pool');
      // The idle timeout is 1.5 × the check interval (5 s here); a minute before.
      const deadline = Date.now() + 20_000;
      let open = await onManager();
      while (open > 1 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        open = await onManager();
      }
      assert.ok(open <= 1, `${open} manager connections still open 20 s after the burst`);
      // And the pool still answers, reconnecting if it must.
      assert.equal((await database!.sql<{ one: number }[]>`SELECT 1 AS one`)[0]!.one, 1);
    } finally {
      await observer.end({ timeout: 1 });
    }
  });
});
