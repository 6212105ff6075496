// The box's init scripts, run on a folder: S50postgresql brings up the cluster
// the supervisor attaches to, S92manager starts and stops the bundled supervisor.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getBoard, postgresSettings } from '../../src/config';
import { connect, MIGRATIONS } from '../../src/db';
import { initScriptEnv, processesMentioning, REPO, runApSync } from '../harness/supervisor';

let root: string;
let env: Record<string, string>;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ap-init-'));
  await chmod(root, 0o755);
  env = initScriptEnv(root, { AP_SERVE_ARGS: '--db attached --http-port 0 --https-port 0 --reserve-size 1M' });
});
after(async () => {
  run('S92manager', 'stop');
  run('S50postgresql', 'stop');
  await rm(root, { recursive: true, force: true });
});

function run(script: string, action: string) {
  const result = spawnSync('sh', [join(REPO, 'overlay/etc/init.d', script), action], { env, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

describe('init scripts', () => {
  it('S50postgresql and S92manager start, serve attached, and stop cleanly', async () => {
    const pg = run('S50postgresql', 'start');
    assert.equal(pg.status, 0, pg.out);
    assert.match(await readFile(join(root, 'mnt/sda2/pgsql/pg_hba.conf'), 'utf8'), /peer map=supervisor/);

    const start = run('S92manager', 'start');
    assert.equal(start.status, 0, start.out);
    const again = run('S92manager', 'start');
    assert.match(again.out, /already running/);

    const ctl = runApSync(['ctl', 'status', '--json', '--root', root]);
    assert.equal(ctl.status, 0, ctl.stderr);
    const status = JSON.parse(ctl.stdout);
    assert.equal(status.state, 'running');
    assert.equal(status.db.mode, 'attached');
    assert.notEqual(status.http.managerPort, status.http.port, 'the Manager listens apart from the apps');
    assert.equal(status.db.schemaVersion, MIGRATIONS.at(-1)!.version);
    assert.match(await readFile(join(root, 'mnt/sda2/log/apps/manager/manager.log'), 'utf8'), /ready: Manager at/);
    const supervisor = status.pid as number;

    const stop = run('S92manager', 'stop');
    assert.equal(stop.status, 0, stop.out);
    assert.throws(() => process.kill(supervisor, 0), { code: 'ESRCH' });
    await assert.rejects(stat(join(root, 'var/run/ap.pid')), { code: 'ENOENT' });
    assert.match(run('S92manager', 'stop').out, /not running/);

    // Attached: the cluster outlives the supervisor and belongs to S50postgresql.
    assert.equal(run('S50postgresql', 'status').status, 0);
    const pgStop = run('S50postgresql', 'stop');
    assert.equal(pgStop.status, 0, pgStop.out);
    assert.deepEqual(processesMentioning(root), []);
  });

  it("S50postgresql (BusyBox sh) starts the cluster with the board's memory settings, and keeps them when the bundle is missing", async () => {
    const box = { ...env, AP_BOARD: 'ipx10' };
    const s50 = (action: string, extra: Record<string, string> = {}) => {
      const result = spawnSync('busybox', ['sh', join(REPO, 'overlay/etc/init.d/S50postgresql'), action], { env: { ...box, ...extra }, encoding: 'utf8', timeout: 120_000 });
      return { status: result.status, out: `${result.stdout}${result.stderr}` };
    };
    // Every setting of the board, as SHOW prints it (the board's values are in the units SHOW picks).
    const want = postgresSettings(getBoard('ipx10'));
    const shown = async () => {
      const sql = connect({ socketDir: join(root, 'var/run/postgresql'), port: 5432, database: 'postgres', max: 1 });
      try {
        const rows = await sql<{ name: string; value: string }[]>`SELECT name, current_setting(name) AS value FROM unnest(${Object.keys(want)}::text[]) AS name`;
        return Object.fromEntries(rows.map((r) => [r.name, r.value]));
      } finally {
        await sql.end({ timeout: 1 });
      }
    };
    const main = join(root, 'mnt/sda2/pgsql/postgresql.conf');
    // A cluster made before the board had settings: its postgresql.conf has no include yet.
    await writeFile(main, (await readFile(main, 'utf8')).replace(/^include_if_exists = 'board\.conf'\n/m, ''));

    const start = s50('start');
    assert.equal(start.status, 0, start.out);
    assert.deepEqual(await shown(), want);
    assert.equal((await readFile(main, 'utf8')).match(/^include_if_exists = 'board\.conf'$/gm)?.length, 1);
    assert.equal(s50('stop').status, 0);

    // No bundle (a box before its supervisor is installed): a warning, and the last settings stay.
    const bare = s50('start', { AP_JS: join(root, 'no-such/ap.js') });
    assert.equal(bare.status, 0, bare.out);
    assert.match(bare.out, /cannot read the PostgreSQL settings of board ipx10 \(no supervisor at .*no-such\/ap\.js\); keeping the ones the cluster has/);
    assert.deepEqual(await shown(), want);
    assert.equal((await readFile(main, 'utf8')).match(/^include_if_exists = 'board\.conf'$/gm)?.length, 1, 'included once, however often it starts');
    assert.equal(s50('stop').status, 0);
    assert.deepEqual(processesMentioning(root), []);
  });

  it('S92manager refuses to start without a board, and both scripts reject unknown actions', () => {
    const noBoard = spawnSync('sh', [join(REPO, 'overlay/etc/init.d/S92manager'), 'start'], { env: { ...env, AP_BOARD: '' }, encoding: 'utf8' });
    assert.equal(noBoard.status, 1);
    assert.match(noBoard.stderr, /no board/);
    for (const script of ['S50postgresql', 'S92manager']) {
      const bad = run(script, 'explode');
      assert.equal(bad.status, 2);
      assert.match(bad.out, /usage/);
    }
  });
});
