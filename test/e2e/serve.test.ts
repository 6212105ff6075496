// The bundled supervisor, started as a user starts it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, findPgBin, MIGRATIONS } from '../../src/db';
import { missing } from '../harness/optional';
import { ensureStopped, listenNotify, processesMentioning, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';


/** Why a stop did not exit 0: the end of what the supervisor said. */
const stopFailure = (run: Run) => `the supervisor's last lines:\n${run.output.text.slice(-1500)}`;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-e2e-'));
  await chmod(dir, 0o755); // the postgres user must reach the cluster when we are root
});
after(() => rm(dir, { recursive: true, force: true }));

const serveArgs = (root: string, ...extra: string[]) => ['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '1M', '--log-level', 'debug', ...extra];

const ready = (run: Run) => readyPorts(run);

async function stop(run: Run, signal: NodeJS.Signals): Promise<[number | null, NodeJS.Signals | null]> {
  run.child.kill(signal);
  return run.exited;
}

async function controlState(dataDir: string): Promise<string> {
  const bin = dirname(await realpath(join(findPgBin(null), 'postgres')));
  const text = execFileSync(join(bin, 'pg_controldata'), [dataDir], { encoding: 'utf8', env: { ...process.env, LANG: 'C', LC_ALL: 'C' } });
  return /Database cluster state:\s+(.*)/.exec(text)![1]!.trim();
}

/** Every file and folder below `root` with its size and mtime, except what PostgreSQL itself rewrites. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  const walk = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (path.endsWith('mnt/sda2/pgsql') || path.endsWith('var/run/postgresql')) continue;
      const info = await stat(path);
      seen.set(path, `${info.size}:${info.mtimeMs}:${info.mode}`);
      if (entry.isDirectory()) await walk(path);
    }
  };
  await walk(root);
  return seen;
}

describe('ap serve (bundled)', () => {
  it('starts, reports READY=1 and health, and stops cleanly on SIGTERM with nothing left running', async (t) => {
    const root = join(dir, 'box');
    // Without the addon (or python3 to listen) the rest still runs; the test reports itself skipped, with why.
    const notifyMissing = missing('sd-notify') ?? missing('python3');
    if (notifyMissing) t.skip(`${notifyMissing}: READY=1 and the watchdog are not checked`);
    const notify = notifyMissing ? null : await listenNotify(join(dir, 'notify.sock'));
    const runs: Run[] = [];
    try {
      const run = runAp(serveArgs(root), notify ? { NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '400000' } : {});
      runs.push(run);
      const { app: port, manager } = await ready(run);
      assert.notEqual(manager, port, 'the Manager has a port of its own');
      if (notify) {
        await notify.waitFor('READY=1');
        await notify.waitFor(`STATUS=serving apps on port ${port}, the Manager on port ${manager}`);
        await notify.waitFor('WATCHDOG=1');
        assert.match(notify.messages.text, /^STATUS=starting the database$/m);
      }

      const health = await fetch(`http://127.0.0.1:${port}/manager/health`);
      assert.equal(health.status, 200);
      const body = (await health.json()) as Record<string, unknown>;
      assert.equal(body.status, 'ok');
      assert.equal(body.db, 'ok');
      assert.equal(body.board, 'dev');

      const page = await fetch(`http://127.0.0.1:${manager}/manager/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /App Platform Manager/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status, 404);

      const ctl = runApSync(['ctl', 'status', '--json', '--root', root]);
      assert.equal(ctl.status, 0, ctl.stderr);
      const status = JSON.parse(ctl.stdout);
      assert.equal(status.state, 'running');
      assert.equal(status.pid, run.child.pid);
      assert.equal(status.http.port, port);
      assert.equal(status.http.managerPort, manager);
      assert.equal(status.db.mode, 'managed');
      assert.equal(status.db.schemaVersion, MIGRATIONS.at(-1)!.version);
      const human = runApSync(['ctl', 'status', '--root', root]);
      assert.match(human.stdout, /state: +running/);
      assert.match(human.stdout, new RegExp(`apps: +127\\.0\\.0\\.1 port ${port}, https port \\d+\nmanager: +127\\.0\\.0\\.1 port ${manager}, https port \\d+`));

      // The state layout of DESIGN.md, and the reserve file.
      for (const folder of ['mnt/sda1', 'mnt/sda2/pgsql', 'mnt/sda2/apps', 'mnt/sda2/log/apps', 'mnt/sda2/log/core_dumps', 'home/root']) {
        assert.ok((await stat(join(root, folder))).isDirectory(), folder);
      }
      assert.equal((await stat(join(root, 'mnt/sda2/empty_if_no_space'))).size, 1024 * 1024);
      const postgresPids = processesMentioning(root);
      assert.ok(postgresPids.length >= 2, 'the supervisor and its PostgreSQL run'); // supervisor + postmaster (+ its children)

      assert.deepEqual(await stop(run, 'SIGTERM'), [0, null], stopFailure(run));
      await notify?.waitFor('STOPPING=1');
      assert.deepEqual(processesMentioning(root), [], 'no process of this root is left');
      for (const pid of postgresPids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
      assert.equal(await controlState(join(root, 'mnt/sda2/pgsql')), 'shut down');
      await assert.rejects(stat(join(root, 'var/run/ap.pid')), { code: 'ENOENT' });
      await assert.rejects(stat(join(root, 'var/run/ap.sock')), { code: 'ENOENT' });

      // A second boot finds a cleanly shut-down cluster: no recovery.
      const again = runAp(serveArgs(root));
      runs.push(again);
      await ready(again);
      assert.match(again.output.text, /database system was shut down at/);
      assert.doesNotMatch(again.output.text, /not properly shut down|automatic recovery/);
      assert.deepEqual(await stop(again, 'SIGINT'), [0, null], stopFailure(again));
      assert.deepEqual(processesMentioning(root), []);
      assert.equal(await controlState(join(root, 'mnt/sda2/pgsql')), 'shut down');
    } finally {
      notify?.close();
      for (const run of runs) await ensureStopped(run); // only matters when an assertion failed midway
    }
  });

  it('stops cleanly when SIGTERM arrives during the first start', async (t) => {
    const root = join(dir, 'early');
    const run = runAp(serveArgs(root));
    t.after(() => ensureStopped(run));
    await run.waitFor(/creating a PostgreSQL cluster/);
    assert.deepEqual(await stop(run, 'SIGTERM'), [0, null], stopFailure(run));
    assert.doesNotMatch(run.output.text, /ready: Manager/);
    assert.deepEqual(processesMentioning(root), []);
    await assert.rejects(stat(join(root, 'mnt/sda2/pgsql.new')), { code: 'ENOENT' });
    await assert.rejects(stat(join(root, 'var/run/ap.pid')), { code: 'ENOENT' });
  });

  it('fails to start with a clear message when the database schema is newer, leaving nothing running', async (t) => {
    const root = join(dir, 'newer');
    const first = runAp(serveArgs(root));
    t.after(() => ensureStopped(first));
    await ready(first);
    const sql = connect({ socketDir: join(root, 'var/run/postgresql'), port: 5432, database: 'manager', max: 1 });
    try {
      await sql`INSERT INTO schema_migrations (version, name) VALUES (999, 'from the future')`;
    } finally {
      await sql.end({ timeout: 1 });
    }
    assert.deepEqual(await stop(first, 'SIGTERM'), [0, null], stopFailure(first));

    const second = runAp(serveArgs(root));
    t.after(() => ensureStopped(second));
    const [code] = await second.exited;
    assert.equal(code, 1);
    assert.match(second.output.text, /start failed: the manager database has schema version 999, newer than this supervisor knows/);
    assert.deepEqual(processesMentioning(root), []);
    assert.equal(await controlState(join(root, 'mnt/sda2/pgsql')), 'shut down');
    await assert.rejects(stat(join(root, 'var/run/ap.pid')), { code: 'ENOENT' });
  });

  it('refuses a second start on the same root and touches nothing', async () => {
    const root = join(dir, 'twice');
    const first = runAp(serveArgs(root));
    try {
      await ready(first);
      const before = await snapshot(root);
      const second = runApSync(serveArgs(root));
      assert.equal(second.status, 1);
      assert.match(second.stderr, new RegExp(`already running on ${root}.*pid ${first.child.pid}|pid ${first.child.pid}\\) is already running`));
      assert.deepEqual(await snapshot(root), before);
      const ctl = runApSync(['ctl', 'status', '--json', '--root', root]);
      assert.equal(JSON.parse(ctl.stdout).pid, first.child.pid, 'the first supervisor still answers');
    } finally {
      assert.deepEqual(await stop(first, 'SIGTERM'), [0, null], stopFailure(first));
    }
  });

  it('rejects bad flags, a bad config file and an unknown board with status 2, writing nothing', async () => {
    const badFile = join(dir, 'bad.json');
    await writeFile(badFile, '{ "http": { "httpPort": "eighty" } }');
    const cases: [string[], RegExp][] = [
      [['--frobnicate'], /unknown option --frobnicate/],
      [['--board', 'ipx99'], /invalid value "ipx99" for --board/],
      [['--http-port', '99999'], /--http-port: expected a port/],
      [['--config', badFile], /"http.httpPort" in .*bad.json: expected a port/],
      [['--config', join(dir, 'missing.json')], /cannot read config file/],
      [['--log-level'], /--log-level needs a value/],
    ];
    for (const [extra, message] of cases) {
      const root = join(dir, 'never');
      const result = runApSync(['serve', '--root', root, ...extra]);
      assert.equal(result.status, 2, `${extra.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      await assert.rejects(stat(root), { code: 'ENOENT' }, `${extra.join(' ')} wrote ${root}`);
    }
    const env = runApSync(['serve', '--root', join(dir, 'never')], { AP_BOARD: 'pc' });
    assert.equal(env.status, 2);
    assert.match(env.stderr, /AP_BOARD/);
    const unknown = runApSync(['launch']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "launch"/);
  });

  it('ctl says plainly when no supervisor runs; version prints version and label', async () => {
    const root = join(dir, 'idle');
    await mkdir(root);
    const ctl = runApSync(['ctl', 'status', '--root', root]);
    assert.equal(ctl.status, 1);
    assert.match(ctl.stderr, /no supervisor is running/);
    const version = runApSync(['--version']);
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^ap \d+\.\d+\.\d+ \(build \S+\)\n$/);
  });
});
