// PostgreSQL dying under a running supervisor (managed mode, as `npm start`
// runs it): a kill -9 of the postmaster is logged, raises DATABASE_DOWN, turns
// health to 503, is restarted (killing the backends it left behind), and then
// the Manager API and an instance's service use their databases again. A
// cluster that keeps dying is given up, without spinning, until `ap ctl db start`.
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findPgBin, startCluster, type Cluster } from '../../src/db';
import { createLogger } from '../../src/log';
import { fetchRaw, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let ports: { app: number; manager: number };

const RESTART_DELAY_MS = 8000; // long enough to see the down state on a busy machine, short enough for a test
const ctl = (...args: string[]) => ctlAt(root, ...args);
const ctlAt = (root: string, ...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
const get = (path: string) => fetchRaw(`http://127.0.0.1:${ports.app}${path}`);
const health = async (port = ports.app) => {
  const answer = await fetchRaw(`http://127.0.0.1:${port}/manager/health`);
  return { status: answer.status, body: JSON.parse(answer.body.toString()) as { db: string } };
};
const dbcount = async () => {
  const answer = await get('/example.com/app/dbcount');
  assert.equal(answer.status, 200, answer.body.toString());
  return JSON.parse(answer.body.toString()) as { n: number; database: string };
};
const configsHeard = async () => JSON.parse((await get('/example.com/app/count')).body.toString()).configs as number;
const dataDir = () => join(root, 'mnt/sda2/pgsql');
const postmaster = async () => Number((await readFile(join(dataDir(), 'postmaster.pid'), 'utf8')).split('\n')[0]);
const databaseAlarm = (at = root) => (ctlAt(at, 'alarms').active as { code: string; severity: string; text: string }[]).find((a) => a.code === 'DATABASE_DOWN');
const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, 'g'))?.length ?? 0;

/** Backends of the cluster serving `database` (their title names it). */
async function backendsOf(database: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const [cwd, cmdline] = await Promise.all([readlink(`/proc/${entry}/cwd`).catch(() => ''), readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')]);
    if (cwd === dataDir() && cmdline.startsWith(`postgres: ${database} `)) found.push(Number(entry));
  }
  return found;
}

describe('PostgreSQL dying (managed)', () => {
  before(async () => {
    dir = await workspace('ap-db-');
    root = await rootWithConfig(dir, {});
    run = runAp([
      'serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0',
      '--db-restart-delay', String(RESTART_DELAY_MS), '--db-restart-limit', '3',
    ]);
    ports = await readyPorts(run);
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
    await until('echo running', async () => ((ctl('service', 'list') as { state: string }[])[0]?.state === 'running' ? true : undefined));
    ctl('instance', 'create', 'app@example.com', '--service', 'echo', '--password', 'pw1');
    await until('instance served', async () => ((await get('/example.com/app/hello')).status === 200 ? true : undefined));
  });

  after(async () => {
    if (run) await ensureStopped(run);
    await rm(dir, { recursive: true, force: true });
  });

  it('gives a cluster that keeps dying up, without spinning, until `ap ctl db start`', async () => {
    const conf = join(dataDir(), 'postgresql.conf');
    const original = await readFile(conf, 'utf8');
    await appendFile(conf, "\nshared_buffers = 'not a size'\n"); // every start now fails
    const before = count(run.output.text, /restarting it in \d+ ms/);
    process.kill(await postmaster(), 'SIGKILL');
    await run.waitFor(/PostgreSQL died 3 times within 300 s .*given up/, 60_000);

    const status = ctl('status').db;
    assert.equal(status.state, 'given-up');
    assert.match(status.reason, /ap ctl db start/);
    assert.match(databaseAlarm()!.text, /was given up: it died 3 times/);
    assert.equal((await health()).status, 503);
    assert.match(runApSync(['ctl', 'db', '--root', root]).stdout, /database: managed, GIVEN UP, down since/);
    // Two restarts (8 s, then 16 s) and then none: a given-up cluster is left alone.
    const restartsAfter = count(run.output.text, /restarting it in \d+ ms/);
    assert.equal(restartsAfter - before, 2);
    await until('a few more checks', async () => ((await health()).status === 503 && ctl('status').db.state === 'given-up' ? true : undefined));
    assert.equal(count(run.output.text, /restarting it in \d+ ms/), restartsAfter);

    await writeFile(conf, original);
    const started = ctl('db', 'start');
    assert.equal(started.state, 'restarting');
    await run.waitFor(/PostgreSQL is back \(pid \d+\) after restart 1/, 60_000);
    await until('health 200', async () => ((await health()).status === 200 ? true : undefined));
    assert.equal(databaseAlarm(), undefined);
    assert.equal((await dbcount()).n, 1);
  });

  it('restarts a kill -9ed postmaster, clears what it left, and everything uses the database again', async () => {
    assert.equal((await dbcount()).n, 2);
    const configsBefore = await configsHeard();
    assert.deepEqual({ status: (await health()).status, state: ctl('status').db.state }, { status: 200, state: 'up' });
    // A backend that cannot notice its postmaster died: it keeps the shared memory, so a
    // restart that does not end it fails ("pre-existing shared memory block is still in use").
    const [frozen] = await backendsOf('example.com_app');
    assert.ok(frozen, 'the echo service holds a connection to its database');
    process.kill(frozen, 'SIGSTOP');

    const pid = await postmaster();
    process.kill(pid, 'SIGKILL');
    await run.waitFor(new RegExp(`PostgreSQL died: the postmaster \\(pid ${pid}\\) was killed by signal SIGKILL`));
    await run.waitFor(/PostgreSQL is down .*; restarting it in 8000 ms/);

    // Down: alarm, health, status, until the restart.
    const alarm = databaseAlarm();
    assert.equal(alarm?.severity, 'critical');
    assert.match(alarm!.text, /PostgreSQL \(managed, .*mnt\/sda2\/pgsql\) is down since .*killed by signal SIGKILL; restarting/);
    const down = await health();
    assert.deepEqual({ status: down.status, db: down.body.db }, { status: 503, db: 'down' });
    const status = ctl('status').db;
    assert.equal(status.state, 'restarting');
    assert.ok(status.downSince);
    assert.match(runApSync(['ctl', 'status', '--root', root]).stdout, /RESTARTING, down since .*was killed by signal SIGKILL/);

    await run.waitFor(new RegExp(`killing 1 PostgreSQL process\\(es\\) left by a dead postmaster: ${frozen}`), 30_000);
    await run.waitFor(/PostgreSQL is back \(pid \d+\) after restart 2/, 60_000);
    await until('health 200', async () => ((await health()).status === 200 ? true : undefined));
    assert.equal(databaseAlarm(), undefined);
    assert.ok((ctl('alarms').cleared as { code: string }[]).some((a) => a.code === 'DATABASE_DOWN'));
    const back = ctl('status').db;
    assert.deepEqual({ state: back.state, restarts: back.restarts, downSince: back.downSince }, { state: 'up', restarts: 2, downSince: null });
    assert.notEqual(back.pid, pid);

    // The manager pool reconnected by itself: the API reads and writes the manager database.
    assert.ok(ctl('setting', 'list').settings);
    ctl('instance', 'create', 'two@example.com', '--service', 'echo', '--password', 'pw2');
    // The service was told (instance.config) and its instance uses its database again.
    await run.waitFor(/database is back: told app@example\.com to reconnect/);
    assert.equal(await configsHeard(), configsBefore + 1);
    assert.deepEqual(await dbcount(), { n: 3, database: 'example.com_app', user: 'example.com_app' });
  });
});

describe('PostgreSQL going down (attached)', () => {
  let dir: string;
  let root: string;
  let run: Run;
  let port: number;
  let cluster: Cluster | null = null;
  const startOurs = async () => {
    cluster = await startCluster({
      dataDir: join(dir, 'pgsql'),
      socketDir: join(dir, 'run'),
      port: 5432,
      bin: findPgBin(null),
      log: createLogger({ level: 'warn', file: null }).child('test-postgres'),
    });
  };

  before(async () => {
    dir = await workspace('ap-dbat-');
    await startOurs(); // plays S50postgresql
    root = await rootWithConfig(dir, {});
    run = runAp([
      'serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0',
      '--db', 'attached', '--db-socket-dir', join(dir, 'run'), '--db-port', '5432', '--db-check-interval', '1',
    ]);
    port = (await readyPorts(run)).app;
  });

  after(async () => {
    if (run) await ensureStopped(run);
    await cluster?.stop(10_000);
    await rm(dir, { recursive: true, force: true });
  });

  it('is reported by an alarm, in status and health while it is down, and cleared when it is back', async () => {
    assert.equal((await health(port)).status, 200);
    assert.equal(ctlAt(root, 'status').db.state, 'up');

    await cluster!.stop(10_000);
    cluster = null;
    await run.waitFor(/PostgreSQL \(attached; S50postgresql runs it\) is not answering/);
    assert.match(databaseAlarm(root)!.text, /PostgreSQL \(attached, socket .*\/run port 5432\) is down since .*check \/etc\/init\.d\/S50postgresql/);
    const down = await health(port);
    assert.deepEqual({ status: down.status, db: down.body.db }, { status: 503, db: 'down' });
    const status = ctlAt(root, 'status').db;
    assert.equal(status.state, 'down');
    assert.ok(status.downSince);
    assert.doesNotMatch(run.output.text, /restarting it in/); // not ours to restart

    await startOurs();
    await run.waitFor(/PostgreSQL \(attached\) answers again/);
    await until('health 200', async () => ((await health(port)).status === 200 ? true : undefined));
    assert.equal(databaseAlarm(root), undefined);
    assert.equal(ctlAt(root, 'status').db.state, 'up');
    assert.ok(ctlAt(root, 'setting', 'list').settings); // the manager pool reconnected
  });
});
