// A primary on a box's layout (attached: S50postgresql runs PostgreSQL): the
// supervisor writes replication.conf, which the cluster S50postgresql made
// includes, and restarts PostgreSQL with the init script to listen on TCP.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { ensureStopped, initScriptEnv, processesMentioning, readyPorts, REPO, runAp, runApSync, type Run } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { baseBackup, freePort, tcpOpen } from './clients';

let dir: string;
let root: string;
let run: Run | undefined;
let port: number;
let env: Record<string, string>;
const S50 = join(REPO, 'overlay/etc/init.d/S50postgresql');

function s50(action: string) {
  const result = spawnSync('sh', [S50, action], { env, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}
const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};

describe('replication: a primary whose PostgreSQL S50postgresql runs (attached)', () => {
  before(async () => {
    dir = await workspace('ap-repl-att-');
    root = join(dir, 'root');
    port = await freePort();
    // PGPORT: the server's port (postgres reads it) and the socket's name, for the script and the supervisor alike.
    env = initScriptEnv(root, { PGPORT: String(port) });
    const started = s50('start');
    assert.equal(started.status, 0, started.out);
  });

  after(async () => {
    if (run) await ensureStopped(run);
    s50('stop');
    await rm(dir, { recursive: true, force: true });
  });

  it('goes primary and back through the init script: TCP with TLS for the standby role, then the socket only', async () => {
    assert.match(await readFile(join(root, 'mnt/sda2/pgsql/postgresql.conf'), 'utf8'), /^include_if_exists = 'replication\.conf'$/m);
    run = runAp(
      ['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--db', 'attached', '--db-port', String(port), '--pg-listen', '127.0.0.1', '--pg-restart-command', `sh ${S50} restart`],
      env,
    );
    await readyPorts(run);
    assert.equal(await tcpOpen(port), false);
    const primary = ctl('replication', 'mode', 'primary');
    assert.equal(primary.listen.active, true);
    assert.equal(await tcpOpen(port), true);
    assert.match(run.output.text, /restarting PostgreSQL to apply replication primary: sh .*S50postgresql restart/);
    const standby = ctl('replication', 'add', 'standby1.example.com');
    const copy = await baseBackup(dir, port, standby, standby.password, 'require');
    assert.equal(copy.code, 0, copy.stderr);
    assert.match(await readFile(join(copy.dir, 'PG_VERSION'), 'utf8'), /^\d+\n$/);
    const plain = await baseBackup(dir, port, standby, standby.password, 'disable');
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /no pg_hba\.conf entry for replication connection/);

    const off = ctl('replication', 'mode', 'off', '--yes');
    assert.equal(off.listen.active, false);
    assert.equal(await tcpOpen(port), false);
    // The supervisor goes on with the restarted cluster (its check may have seen it down for a moment).
    await until('the database up', async () => (ctl('status').db.state === 'up' ? true : undefined));
    await ensureStopped(run);
    run = undefined;
    assert.equal(s50('stop').status, 0);
    assert.deepEqual(processesMentioning(root), []);
  });
});
