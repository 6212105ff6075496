// An instance whose database is on an external host given as an IPv6 literal
// ("[::1]:PORT"): a second PostgreSQL cluster that listens on ::1 only. The
// supervisor's own connections (the check at create, pg_dump, vacuumdb) and
// the service's, made with what instance.start gave it, reach that cluster;
// none goes to 127.0.0.1.
import assert from 'node:assert/strict';
import { appendFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, findPgBin, startCluster, type Cluster } from '../../src/db';
import { createLogger } from '../../src/log';
import { fetchRaw, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

const hasIPv6Loopback = Object.values(networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv6' && a.address === '::1'));

let dir: string;
let root: string;
let run: Run | undefined;
let external: Cluster | undefined;
let externalPort: number;
let socketDir: string;
let port: number;

/** A TCP port free on ::1 right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '::1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const ctl = (...args: string[]) => runApSync(['ctl', ...args, '--json', '--root', root]);

before(async () => {
  if (!hasIPv6Loopback) return;
  dir = await workspace('ap-ext6-');
  externalPort = await freePort();
  socketDir = join(dir, 'ext-run');
  external = await startCluster({
    dataDir: join(dir, 'ext-data'),
    socketDir,
    port: externalPort,
    bin: findPgBin(process.env.AP_PG_BIN ?? null),
    log: createLogger({ level: 'warn', file: null }).child('external-postgres'),
    // The later -c wins: TCP on ::1 only, nothing on 127.0.0.1.
    settings: { listen_addresses: '::1', fsync: 'off' },
  });
  await appendFile(join(dir, 'ext-data/pg_hba.conf'), 'host  all  all  ::1/128  scram-sha-256\n');
  // The database and its owner exist on the external host before the instance (the seed: "you have to create the database itself").
  const admin = connect({ socketDir, port: externalPort, database: 'postgres', max: 1 });
  try {
    await admin`SELECT pg_reload_conf()`;
    await admin.unsafe(`CREATE ROLE ext_user LOGIN PASSWORD 'ext-pw'`);
    await admin.unsafe('CREATE DATABASE ext_db OWNER ext_user');
  } finally {
    await admin.end({ timeout: 1 });
  }
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  port = (await readyPorts(run)).app;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
});

after(async () => {
  if (run) await ensureStopped(run);
  await external?.stop(20_000);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('external database on an IPv6 host', { skip: hasIPv6Loopback ? false : 'this machine has no IPv6 loopback (::1)' }, () => {
  it('creates the instance against [::1]:PORT, and its service works in that database', async () => {
    const created = ctl('instance', 'create', 'ext@example.com', '--service', 'echo', '--password', 'pw',
      '--external-host', `[::1]:${externalPort}`, '--external-db', 'ext_db', '--external-user', 'ext_user', '--external-password', 'ext-pw');
    assert.equal(created.status, 0, created.stdout + created.stderr);
    assert.deepEqual(JSON.parse(created.stdout).external, { host: `[::1]:${externalPort}`, name: 'ext_db', user: 'ext_user' });

    // What the service received: host and port apart, the host without brackets.
    const params = await until('the instance served', async () => {
      const answer = await fetchRaw(`http://127.0.0.1:${port}/example.com/ext/dbparams`);
      return answer.status === 200 ? JSON.parse(answer.body.toString()) : undefined;
    });
    assert.deepEqual(params, { host: '::1', port: externalPort, name: 'ext_db', user: 'ext_user', sslmode: 'prefer' });

    // The service connects with exactly that, and writes into the external cluster.
    for (let n = 1; n <= 2; n++) {
      const answer = await fetchRaw(`http://127.0.0.1:${port}/example.com/ext/dbcount`);
      assert.equal(answer.status, 200, answer.body.toString());
      assert.deepEqual(JSON.parse(answer.body.toString()), { n, database: 'ext_db', user: 'ext_user' });
    }
    const admin = connect({ socketDir, port: externalPort, database: 'ext_db', max: 1 });
    try {
      assert.deepEqual([...(await admin`SELECT n FROM echo_counter`)], [{ n: 2 }]);
    } finally {
      await admin.end({ timeout: 1 });
    }
  });

  it('backs up and cleans up the external database over IPv6', async () => {
    const file = join(dir, 'ext.apbk');
    const backup = JSON.parse(ctl('backup', 'instance', 'ext@example.com', '--file', file).stdout);
    assert.equal(backup.state, 'succeeded', backup.message);
    const verified = JSON.parse(ctl('backup', 'verify', file).stdout);
    assert.equal(verified.state, 'succeeded', verified.message);
    const cleanup = JSON.parse(ctl('instance', 'cleanup', 'ext@example.com').stdout);
    assert.equal(cleanup.state, 'succeeded', cleanup.message);
    assert.match(cleanup.message, /database "ext_db" cleaned up/);
  });

  it('refuses an IPv6 address without brackets before a port, changing nothing', () => {
    const bad = ctl('instance', 'create', 'bad@example.com', '--service', 'echo', '--password', 'pw',
      '--external-host', `::1:${externalPort}:x`, '--external-db', 'ext_db', '--external-user', 'ext_user', '--external-password', 'ext-pw');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stdout + bad.stderr, /is not an IPv6 address \(write \[address\]:port to add a port\)/);
    assert.equal((JSON.parse(ctl('instance', 'list').stdout).instances as { id: string }[]).some((i) => i.id === 'bad@example.com'), false);
  });
});
