// Instances through the bundled supervisor and `ap ctl instance`: created with
// their own database, served on their path, edited live, surviving a restart.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as pgConnect } from '../../src/db';
import { fetchRaw, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { connect, type Client } from '../harness/ws';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

let dir: string;
let root: string;
let run: Run;
let port: number;

const ctlRaw = (...args: string[]) => runApSync(['ctl', ...args, '--root', root]);
const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
const get = (path: string) => fetchRaw(`http://127.0.0.1:${port}${path}`);
const dbcount = async (path: string) => {
  const answer = await get(`${path}/dbcount`);
  assert.equal(answer.status, 200, answer.body.toString());
  return JSON.parse(answer.body.toString()) as { n: number; database: string; user: string };
};

async function start(): Promise<void> {
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  port = (await readyPorts(run)).app;
}

async function servicesRunning(): Promise<void> {
  await until('services running', async () => {
    const list = ctl('service', 'list') as { name: string; state: string }[];
    return list.length === 2 && list.every((s) => s.state === 'running') ? true : undefined;
  });
}

before(async () => {
  dir = await workspace('ap-inst-');
  root = await rootWithConfig(dir, {});
  await start();
  for (const fixture of ['echo', 'pbxecho']) {
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture(fixture, join(dir, 'packages')), '--root', root]).status, 0);
  }
  await servicesRunning();
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

async function login(client: Client, password: string): Promise<Record<string, unknown>> {
  client.sendJson({ mt: 'AppChallenge' });
  const { challenge } = (await client.nextJson()) as { challenge: string };
  client.sendJson({ mt: 'AppLogin', app: 'a', domain: 'example.com', sip: 's', digest: sha(['a', 'example.com', 's', '', '', challenge, password].join(':')) });
  return client.nextJson();
}

describe('instances through ap ctl', () => {
  it('creates an instance whose service serves its path and writes to its own database', async () => {
    const created = ctl('instance', 'create', 'app@example.com', '--service', 'echo', '--password', 'pw1');
    assert.equal(created.path, '/example.com/app');
    assert.deepEqual(created.database, { name: 'example.com_app', user: 'example.com_app', sizeBytes: created.database.sizeBytes });
    assert.ok(created.database.sizeBytes > 0);
    assert.equal(JSON.stringify(created).includes('dbPassword'), false);
    await until('served', async () => ((await get('/example.com/app/hello')).status === 200 ? true : undefined));
    assert.deepEqual(await dbcount('/example.com/app'), { n: 1, database: 'example.com_app', user: 'example.com_app' });
    assert.equal((await dbcount('/example.com/app')).n, 2);
    const list = ctl('instance', 'list');
    assert.deepEqual(
      list.instances.map((i: { id: string; state: string }) => [i.id, i.state]),
      [['app@example.com', 'running']],
    );
    assert.match(ctlRaw('instance', 'list').stdout, /app@example\.com\s+echo\s+running\s+\/example\.com\/app/);
  });

  it('refuses bad input naming the field, and creates nothing', async () => {
    for (const [args, pattern] of [
      [['instance', 'create', "o'brien@example.com", '--service', 'echo'], /name: "o'brien" is not an instance name/],
      [['instance', 'create', 'x@Example.com', '--service', 'echo'], /domain: "Example\.com" is not a domain name/],
      [['instance', 'create', 'x@example.com', '--service', 'nope'], /service nope is not installed/],
      [['instance', 'create', 'x@example.com', '--service', 'echo', '--path', '/example.com/app'], /path: \/example\.com\/app is the path of another instance/],
      [['instance', 'create', `${'a'.repeat(52)}@example.com`, '--service', 'echo'], /dbName: the default .* is 64 characters/],
      [['instance', 'edit', 'app@example.com', '--trace-flags', 'App,Bogus'], /traceFlags: unknown trace flag "Bogus"/],
      [['instance', 'create', 'x@example.com', '--service', 'echo', '--drop-database'], /--drop-database does not go with "ap ctl instance create"/],
    ] as [string[], RegExp][]) {
      const result = ctlRaw(...args);
      assert.notEqual(result.status, 0, args.join(' '));
      assert.match(result.stderr, pattern, args.join(' '));
    }
    const json = runApSync(['ctl', 'instance', 'create', 'bad name@example.com', '--service', 'echo', '--json', '--root', root]);
    assert.equal(json.status, 1);
    assert.deepEqual(JSON.parse(json.stdout).error.field, 'name');
    assert.deepEqual(
      ctl('instance', 'list').instances.map((i: { id: string }) => i.id),
      ['app@example.com'],
    );
    // 63 characters is fine.
    const ok = ctl('instance', 'create', `${'a'.repeat(51)}@example.com`, '--service', 'echo', '--stopped');
    assert.equal(ok.database.name.length, 63);
    assert.equal(ok.state, 'stopped');
    ctl('instance', 'delete', ok.id, '--drop-database');
  });

  it('stops (404, WebSockets closed) and starts again with its data', async () => {
    ctl('instance', 'create', 'pbx@example.com', '--service', 'pbxecho', '--password', 'old-pw');
    const clients: Client[] = [];
    for (let i = 0; i < 4; i++) {
      const client = await connect(`ws://127.0.0.1:${port}/example.com/pbx/ws`);
      assert.equal((await login(client, 'old-pw')).ok, true);
      await client.next(); // the service's greeting
      clients.push(client);
    }
    // Connections that went away before are not in the way (first, middle, last of the instance's list).
    for (const gone of [clients[3]!, clients[1]!]) {
      gone.ws.close();
      await gone.closed;
    }
    const other = await connect(`ws://127.0.0.1:${port}/example.com/app/ws`); // another instance's: stays
    ctl('instance', 'stop', 'pbx@example.com');
    assert.deepEqual(await clients[0]!.closed, [1001, 'instance stopped']);
    assert.deepEqual(await clients[2]!.closed, [1001, 'instance stopped']);
    assert.equal(other.ws.readyState, other.ws.OPEN);
    const stopped = ctl('instance', 'stop', 'app@example.com');
    assert.equal(stopped.state, 'stopped');
    assert.equal((await get('/example.com/app/hello')).status, 404);
    assert.deepEqual(await other.closed, [1001, 'instance stopped']);
    ctl('instance', 'start', 'app@example.com');
    ctl('instance', 'start', 'pbx@example.com');
    await until('served again', async () => ((await get('/example.com/app/hello')).status === 200 ? true : undefined));
    assert.equal((await dbcount('/example.com/app')).n, 3);
  });

  it('moves the path live', async () => {
    const moved = ctl('instance', 'edit', 'app@example.com', '--path', '/moved/app');
    assert.equal(moved.path, '/moved/app');
    assert.equal((await get('/example.com/app/hello')).status, 404);
    assert.equal((await get('/moved/app/hello')).status, 200);
    assert.equal((await dbcount('/moved/app')).n, 4);
  });

  it('applies a new instance password to new logins; a new database password reaches the service', async () => {
    const fresh = ctl('instance', 'edit', 'pbx@example.com', '--new-password');
    assert.notEqual(fresh.password, 'old-pw');
    const old = await connect(`ws://127.0.0.1:${port}/example.com/pbx/ws`);
    assert.equal((await login(old, 'old-pw')).ok, false);
    const now = await connect(`ws://127.0.0.1:${port}/example.com/pbx/ws`);
    assert.equal((await login(now, fresh.password)).ok, true);
    old.ws.terminate();
    now.ws.terminate();
    // The echo service reconnects with the new database password it is sent.
    ctl('instance', 'edit', 'app@example.com', '--new-db-password');
    assert.equal((await dbcount('/moved/app')).n, 5);
    // A password read from stdin, not from the command line.
    const piped = runApSync(['ctl', 'instance', 'edit', 'pbx@example.com', '--password', '-', '--json', '--root', root], {}, 'from-stdin\n');
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(JSON.parse(piped.stdout).password, 'from-stdin');
  });

  it('passes trace flags to the service, which logs by them', async () => {
    const log = join(root, 'mnt/sda2/log/apps/echo/echo.log');
    ctl('instance', 'edit', 'app@example.com', '--trace-flags', 'App,Database');
    await get('/moved/app/hello?traced=1');
    await until('trace line', async () => ((await readFile(log, 'utf8')).includes('trace App: app@example.com GET /moved/app/hello') ? true : undefined));
    const edited = ctl('instance', 'edit', 'app@example.com', '--trace-flags', '0x8000');
    assert.deepEqual(edited.traceFlagNames, ['App WebSocket']);
    await get('/moved/app/untraced');
    await get('/moved/app/hello'); // a request after, so the log has caught up with the one before
    const text = await readFile(log, 'utf8');
    assert.equal(text.includes('/moved/app/untraced'), false);
  });

  it('brings running instances back after a restart of the supervisor', async () => {
    await ensureStopped(run);
    await start();
    await servicesRunning();
    await until('served after restart', async () => ((await get('/moved/app/hello')).status === 200 ? true : undefined));
    assert.equal((await dbcount('/moved/app')).n, 6);
  });

  it('cleans up an instance database with vacuumdb -f as a job, and reports its size', async () => {
    const job = ctl('instance', 'cleanup', 'app@example.com');
    assert.equal(job.state, 'succeeded', job.message);
    assert.match(job.message, /database "example\.com_app" cleaned up \(\d+ tables vacuumed in full\)/);
    assert.ok(job.progress.done >= 2, JSON.stringify(job.progress)); // the catalog and echo_counter
    assert.match(job.progress.note, /^vacuuming "/);
    assert.ok(job.output.length > 0 && job.output.every((line: string) => /^(INFO: {2}vacuuming "|vacuumdb)/.test(line)), JSON.stringify(job.output));
    const text = ctlRaw('instance', 'cleanup', 'app@example.com');
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /succeeded: database "example\.com_app" cleaned up/);
    assert.ok(ctl('instance', 'show', 'app@example.com').database.sizeBytes > 1_000_000);
    assert.equal(ctlRaw('instance', 'cleanup', 'nobody@example.com').status, 1);
  });

  it('runs the nightly analyse on demand and shows its schedule and last result', async () => {
    const before = ctl('analyse');
    assert.equal(before.hour, 1);
    assert.equal(before.timeZone, 'UTC');
    const job = ctl('analyse', 'run');
    assert.equal(job.state, 'succeeded', job.message);
    assert.match(job.message, /^ok: \d+ databases analysed$/);
    const after = ctl('analyse');
    assert.equal(after.lastOk, true);
    assert.ok(Date.parse(after.lastRunAt) > Date.now() - 60_000);
    assert.match(ctlRaw('analyse').stdout, /schedule: {2}daily from 01:00 UTC, plus a random offset of up to 7 hours/);
    // The settings it follows, validated before they are saved.
    assert.match(ctlRaw('setting', 'set', 'timezone', 'Mars/Olympus').stderr, /timezone: "Mars\/Olympus" is not a time zone name/);
    assert.match(ctlRaw('setting', 'set', 'dbOptimizationHour', '24').stderr, /not an hour from 0 to 23/);
    assert.match(ctlRaw('setting', 'set', 'colour', 'red').stderr, /no setting colour/);
    assert.equal(ctl('setting', 'list').settings.timezone.isDefault, true);
    assert.deepEqual(ctl('setting', 'set', 'timezone', 'Europe/Berlin'), { name: 'timezone', value: 'Europe/Berlin' });
    ctl('setting', 'set', 'dbOptimizationHour', '03');
    const now = ctl('analyse');
    assert.deepEqual([now.hour, now.timeZone], [3, 'Europe/Berlin']);
    assert.match(ctlRaw('setting', 'list').stdout, /dbOptimizationHour\s+3\s+Database optimization time/);
  });

  it('deletes, keeping the database unless asked to drop it', async () => {
    const result = ctl('instance', 'delete', 'pbx@example.com');
    assert.deepEqual(result, { deleted: 'pbx@example.com', databaseDropped: false });
    ctl('instance', 'delete', 'app@example.com', '--drop-database');
    assert.equal((await get('/moved/app/hello')).status, 404);
    const status = ctl('status');
    const sql = pgConnect({ socketDir: status.db.socketDir, port: status.db.port, database: 'postgres', max: 1 });
    try {
      const rows = await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE 'example.com_%' ORDER BY datname`;
      assert.deepEqual(rows.map((r) => r.datname), ['example.com_pbx']);
    } finally {
      await sql.end({ timeout: 1 });
    }
    assert.deepEqual(ctl('instance', 'list').instances, []);
  });
});
