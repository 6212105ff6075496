// tier: integration (starts a managed PostgreSQL cluster of its own)
// The managed cluster runs with its board's memory settings, and the
// supervisor's pool on the manager database stays within the board's dbPool.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { loadConfig, postgresSettings, type Config } from '../../src/config';
import { openDatabase, type Database } from '../../src/db';
import { createLayout, layout } from '../../src/paths';
import { silentLogger } from '../harness/log';
import { workspace } from '../harness/workspace';

const log = silentLogger();

let dir: string;
let config: Config;
let database: Database | null = null;

before(async () => {
  dir = await workspace('ap-board-pg-');
  config = loadConfig({ flags: { board: 'ipx10', root: dir, db: 'managed' }, env: {}, cwd: dir, uid: process.getuid?.() });
  const paths = layout(config.root);
  await createLayout(paths);
  database = await openDatabase(config, paths, log);
});

after(async () => {
  await database?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a managed cluster started for a board', () => {
  it("shows the board's settings (SHOW) and keeps the supervisor's pool within dbPool", async () => {
    const sql = database!.sql;
    const want = postgresSettings(config.board);
    const shown: Record<string, string> = {};
    for (const name of Object.keys(want)) {
      const [row] = await sql.unsafe<{ value: string }[]>(`SELECT current_setting('${name}') AS value`);
      shown[name] = row!.value;
    }
    assert.deepEqual(shown, want);
    assert.equal(shown.shared_buffers, '8MB');
    assert.equal(shown.max_connections, '30');

    // Ten queries at once: they queue on the pool instead of opening ten backends.
    const counts = await Promise.all(
      Array.from({ length: 10 }, () => sql<{ n: number }[]>`SELECT count(*)::int AS n, pg_sleep(0.1) FROM pg_stat_activity WHERE application_name = 'ap-supervisor'`),
    );
    const most = Math.max(...counts.map(([row]) => row!.n));
    assert.ok(most >= 1 && most <= config.board.dbPool, `at most ${config.board.dbPool} supervisor connections, saw ${most}`);
  });
});
