// A standby on a box's layout (attached: S50postgresql runs PostgreSQL): the
// supervisor takes the base backup as the cluster's account, stops the old
// cluster and starts the copy with the init script (at the start after a
// kill -9 right after the setup decided), follows a managed primary
// read-only, finishes a switch a crash cut after the folders were swapped,
// and is promoted to a writable standalone box.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { asSuperuser, ensureStopped, initScriptEnv, processesMentioning, readyPorts, REPO, runAp } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { createRows, ctl, ctlError, inMode, insertRows, rows, shown, startBox, stopBoxes, streamingFrom, type Box } from './boxes';
import { freePort } from './clients';

const S50 = join(REPO, 'overlay/etc/init.d/S50postgresql');

/** A process's command line, for a failure's message. */
const readCmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '(gone)';
  }
};

describe('replication: a standby whose PostgreSQL S50postgresql runs (attached)', () => {
  let dir: string;
  let a: Box;
  let b: Box;
  let env: Record<string, string>;
  let password: string;

  const s50 = (action: string) => {
    const result = spawnSync('sh', [S50, action], { env, encoding: 'utf8', timeout: 120_000 });
    return { status: result.status, out: `${result.stdout}${result.stderr}` };
  };
  const serveB = () =>
    runAp(
      [
        'serve', '--root', b.root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--db', 'attached', '--db-port', String(b.pgPort), '--pg-listen', '127.0.0.1',
        '--pg-restart-command', `sh ${S50} restart`, '--pg-stop-command', `sh ${S50} stop`, '--pg-start-command', `sh ${S50} start`,
      ],
      env,
    );

  before(async () => {
    dir = await workspace('ap-repl-attsb-');
    a = await startBox(dir, 'a');
    await asSuperuser(a.root, 'postgres', (sql) => sql`CREATE DATABASE t`);
    await createRows(a, 't');
    await insertRows(a, 't', 1, 500);
    ctl(a, 'replication', 'mode', 'primary');
    password = (ctl(a, 'replication', 'add', 'b.example.com') as { password: string }).password;
    const root = join(dir, 'b');
    const pgPort = await freePort();
    env = initScriptEnv(root, { PGPORT: String(pgPort) });
    b = { root, pgPort, extra: [], run: undefined as never };
    const started = s50('start');
    assert.equal(started.status, 0, started.out);
    b.run = serveB();
    await readyPorts(b.run);
  });

  after(async () => {
    if (b?.run) await ensureStopped(b.run);
    if (env) s50('stop');
    await stopBoxes();
    await rm(dir, { recursive: true, force: true });
  });

  it('set up through ap ctl and cut by kill -9 right after it decided (the old cluster may still run): the next start stops it and starts the copy with the init script; it streams, sees the rows and refuses writes', async () => {
    const setup = runAp(['ctl', 'replication', 'standby', `127.0.0.1:${a.pgPort}`, 'b.example.com', '--password', password, '--yes', '--json', '--root', b.root]);
    await b.run.waitFor(/base backup from .* taken: switching to standby/, 120_000);
    b.run.child.kill('SIGKILL');
    await b.run.exited;
    await setup.exited;
    b.run = serveB();
    await readyPorts(b.run);
    await streamingFrom(b, a);
    assert.match(b.run.output.text, /starting the standby's cluster: sh .*S50postgresql start/);
    assert.ok(existsSync(join(b.root, 'mnt/sda2/pgsql/standby.signal')));
    assert.match(s50('start').out, /PostgreSQL is already running/, 'a start repeated after a cut does nothing');
    // The copy is the cluster's account's, as the init script runs it.
    const postgres = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(String((await stat(join(b.root, 'mnt/sda2/pgsql/PG_VERSION'))).uid), postgres);
    assert.equal(await rows(b, 't'), 500);
    await insertRows(a, 't', 501, 800);
    await until('the new rows on the standby', async () => ((await rows(b, 't')) === 800 ? true : undefined));
    const refused = await asSuperuser(b.root, 't', (sql) => sql`INSERT INTO rows VALUES (9999, 'x')`).then(
      () => null,
      (err: { code?: string }) => err.code,
    );
    assert.equal(refused, '25006', 'read-only: a hot standby');
    assert.equal(ctlError(b, 'replication', 'add', 'x.example.com').code, 'NOT_ON_STANDBY');
    await until('the old cluster and the marker gone', async () =>
      (await readdir(join(b.root, 'mnt/sda2'))).filter((f) => f.startsWith('pgsql')).join() === 'pgsql' ? true : undefined,
    );
  });

  it('a switch a crash cut after the folders were swapped (the new cluster down, the old one left) is finished by the next start', async () => {
    b.run.child.kill('SIGKILL');
    await b.run.exited;
    assert.equal(s50('stop').status, 0);
    // What a cut right after the swap leaves: the decision (its marker) and the old cluster, the copy in place and not running.
    await writeFile(join(b.root, 'mnt/sda2/pgsql.standby.json'), await readFile(join(b.root, 'home/root/standby.conf')), { mode: 0o600 });
    await mkdir(join(b.root, 'mnt/sda2/pgsql.old'));
    await writeFile(join(b.root, 'mnt/sda2/pgsql.old/PG_VERSION'), '15\n');
    b.run = serveB();
    await readyPorts(b.run);
    await streamingFrom(b, a);
    await b.run.waitFor(/this box is a standby now: the previous cluster is removed/);
    assert.deepEqual((await readdir(join(b.root, 'mnt/sda2'))).filter((f) => f.startsWith('pgsql')), ['pgsql']);
    await insertRows(a, 't', 801, 900);
    await until('rows written after the restart, on the standby', async () => ((await rows(b, 't')) === 900 ? true : undefined));
  });

  it('off: promotes it: writable, standby.conf gone; the init script stops it cleanly', async () => {
    ctl(b, 'replication', 'mode', 'off', '--yes');
    await inMode(b, 'off');
    assert.equal(existsSync(join(b.root, 'home/root/standby.conf')), false);
    assert.equal(existsSync(join(b.root, 'mnt/sda2/pgsql/standby.signal')), false);
    await insertRows(b, 't', 901, 950);
    assert.equal(await rows(b, 't'), 950);
    assert.equal(shown(b)!.standby, undefined);
    await ensureStopped(b.run);
    assert.equal(s50('stop').status, 0);
    // Nothing of the box stays: a process that is still exiting gets a moment (under load one did), a leak does not.
    await until('no process of the box left', async () => (processesMentioning(b.root).length === 0 ? true : undefined), 10_000).catch(() => {
      const left = processesMentioning(b.root).map((pid) => `${pid}: ${readCmdline(pid)}`);
      assert.deepEqual(left, [], 'processes left after the stop');
    });
  });
});
