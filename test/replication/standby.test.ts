// A standby end to end: two bundled supervisors (test/replication/boxes.ts).
// A is a primary with an instance of pbxecho writing rows; B, with an app of
// its own, is refused first (nothing may change), survives a crash that left
// a copy, is set up as A's standby through `ap ctl`, follows A read-only
// (apps from A's packages, not started), and is promoted to a standalone box.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw, until } from '../harness/http';
import { asSuperuser, buildFixture, runApSync } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { appPort, crashAndStart, createRows, ctl, ctlError, inMode, insertRows, instanceNames, rows, services, shown, startBox, stopBoxes, streamingFrom, type Box, type Shown } from './boxes';
import { freePort } from './clients';

const dbcount = async (box: Box) => {
  const r = await fetchRaw(`http://127.0.0.1:${appPort(box)}/example.com/pbx/dbcount`);
  return r.status === 200 ? (JSON.parse(r.body.toString()) as { n: number }) : undefined;
};
const setting = (box: Box, name: string) => (ctl(box, 'setting', 'list') as { settings: Record<string, { value: string }> }).settings[name]!.value;

describe('replication: a standby', () => {
  let dir: string;
  let a: Box;
  let b: Box;
  let db: string;
  let password: string;
  let packages: string;

  before(async () => {
    dir = await workspace('ap-standby-');
    packages = join(dir, 'packages');
    a = await startBox(dir, 'a');
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('pbxecho', packages), '--root', a.root]).status, 0);
    ctl(a, 'instance', 'create', 'pbx@example.com', '--service', 'pbxecho', '--password', 'pbx-pw');
    // The instance writes through its service: its counter, three times.
    await until('pbx served', () => dbcount(a), 60_000);
    for (let i = 0; i < 2; i++) assert.ok(await dbcount(a));
    db = (ctl(a, 'instance', 'show', 'pbx@example.com') as { database: { name: string } }).database.name;
    await createRows(a, db);
    await insertRows(a, db, 1, 1000);
    ctl(a, 'setting', 'set', 'devicesAppUrl', 'https://devices.primary.example.com');
    ctl(a, 'replication', 'mode', 'primary');
    password = (ctl(a, 'replication', 'add', 'b.example.com') as { password: string }).password;
    b = await startBox(dir, 'b');
    // B's own app, which becoming a standby removes.
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', packages), '--root', b.root]).status, 0);
    ctl(b, 'instance', 'create', 'local@example.com', '--service', 'echo', '--password', 'local-pw');
  });

  after(async () => {
    await stopBoxes();
    await rm(dir, { recursive: true, force: true });
  });

  const primaryA = () => `127.0.0.1:${a.pgPort}`;
  const bAsItWas = async () => {
    assert.equal(shown(b)!.mode, 'off');
    await until('echo running', async () => (services(b).some((s) => s.name === 'echo' && s.state === 'running') ? true : undefined), 60_000);
    assert.deepEqual(instanceNames(b), ['local']);
    assert.deepEqual((await readdir(join(b.root, 'mnt/sda2'))).filter((f) => f.startsWith('pgsql')), ['pgsql'], 'no copy left behind');
    assert.equal(existsSync(join(b.root, 'home/root/standby.conf')), false);
  };

  it('refuses a setup unconfirmed, with bad fields, a wrong password, an unknown name or an unreachable primary, changing nothing', async () => {
    const unconfirmed = ctlError(b, 'replication', 'standby', primaryA(), 'b.example.com', '--password', password);
    assert.equal(unconfirmed.code, 'CONFIRM_REQUIRED');
    assert.match(unconfirmed.message, /removes the locally installed apps.*services echo; instances local@example\.com/);
    assert.equal(ctlError(b, 'replication', 'standby', 'bad host', 'b.example.com', '--password', 'x', '--yes').field, 'primary');
    assert.equal(ctlError(b, 'replication', 'standby', `${primaryA()}0000`, 'b.example.com', '--password', 'x', '--yes').field, 'primary');
    assert.equal(ctlError(b, 'replication', 'standby', primaryA(), 'not a name', '--password', 'x', '--yes').field, 'name');
    const wrong = ctlError(b, 'replication', 'standby', primaryA(), 'b.example.com', '--password', `${password}x`, '--yes');
    assert.equal(wrong.code, 'STANDBY_AUTH');
    assert.match(wrong.message, /password authentication failed/);
    const unknown = ctlError(b, 'replication', 'standby', primaryA(), 'nobody.example.com', '--password', 'x', '--yes');
    assert.equal(unknown.code, 'STANDBY_UNKNOWN');
    assert.match(unknown.message, /knows no standby named nobody\.example\.com/);
    assert.equal(ctlError(b, 'replication', 'standby', `127.0.0.1:${await freePort()}`, 'b.example.com', '--password', 'x', '--yes').code, 'PRIMARY_UNREACHABLE');
    // A primary leaves that role first: its standbys would lose it without a word.
    assert.equal(ctlError(a, 'replication', 'standby', `127.0.0.1:${b.pgPort}`, 'a.example.com', '--password', 'x', '--yes').code, 'IS_PRIMARY');
    assert.equal(shown(a)!.mode, 'primary');
    assert.deepEqual(shown(a)!.standbys.map((s) => s.name), ['b.example.com']);
    await bAsItWas();
  });

  it('a copy that a crash left before the setup decided (no marker) is removed at the next start; the box stays as it was', async () => {
    const copy = join(b.root, 'mnt/sda2/pgsql.standby');
    await mkdir(copy);
    await writeFile(join(copy, 'PG_VERSION'), '15\n');
    await crashAndStart(b);
    await bAsItWas();
  });

  it("set up through ap ctl: streams, sees every row, refuses writes; the primary's service is installed and not running, the local app is gone", async () => {
    ctl(b, 'setting', 'set', 'dnsName', 'b-before.example.com');
    const answer = ctl(b, 'replication', 'standby', primaryA(), 'B.example.com', '--password', password, '--yes') as Shown;
    assert.equal(answer.mode, 'standby');
    assert.equal(answer.standby!.switching, true);
    const state = await streamingFrom(b, a);
    assert.equal(state.standby!.name, 'b.example.com');
    assert.match(state.standby!.replayedLsn!, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(await rows(b, db), 1000);
    await insertRows(a, db, 1001, 1500);
    await until('the new rows on the standby', async () => ((await rows(b, db)) === 1500 ? true : undefined));
    // The instance's own writes, in its own schema (its user's).
    const counter = await asSuperuser(b.root, db, async (sql) => {
      const [where] = await sql<{ schemaname: string }[]>`SELECT schemaname FROM pg_tables WHERE tablename = 'echo_counter'`;
      return (await sql.unsafe<{ n: number }[]>(`SELECT n FROM "${where!.schemaname}".echo_counter`))[0]!.n;
    });
    assert.equal(counter, 3);
    const refused = await asSuperuser(b.root, 'manager', (sql) => sql`INSERT INTO config (name, value) VALUES ('x', 'y')`).then(
      () => null,
      (err: { code?: string }) => err.code,
    );
    assert.equal(refused, '25006', 'read-only: a hot standby');
    const list = services(b);
    assert.deepEqual(list.map((s) => s.name), ['pbxecho']);
    assert.notEqual(list[0]!.state, 'running');
    assert.ok(existsSync(join(b.root, 'mnt/sda2/apps/pbxecho/app.json')));
    assert.equal(existsSync(join(b.root, 'mnt/sda2/apps/echo')), false);
    assert.deepEqual(instanceNames(b), ['pbx'], "the primary's instances, listed");
    const change = ctlError(b, 'instance', 'create', 'x@example.com', '--service', 'pbxecho', '--password', 'x-pw');
    assert.equal(change.code, 'NOT_ON_STANDBY');
    assert.match(change.message, new RegExp(`standby of 127\\.0\\.0\\.1:${a.pgPort}; change apps on the primary`));
    assert.equal(ctlError(b, 'service', 'start', 'pbxecho').code, 'NOT_ON_STANDBY');
    assert.equal(ctlError(b, 'replication', 'add', 'x.example.com').code, 'NOT_ON_STANDBY');
    // Its own settings: kept from before, changed in standby.conf; not the primary's.
    assert.equal(setting(b, 'dnsName'), 'b-before.example.com');
    assert.equal(setting(b, 'devicesAppUrl'), '');
    ctl(b, 'setting', 'set', 'dnsName', 'b.example.com');
    assert.deepEqual((await readdir(join(b.root, 'mnt/sda2'))).filter((f) => f.startsWith('pgsql')), ['pgsql'], 'the old cluster and the marker are gone');
    const text = runApSync(['ctl', 'replication', '--root', b.root]).stdout;
    assert.match(text, new RegExp(`^mode: +standby of 127\\.0\\.0\\.1:${a.pgPort} as b\\.example\\.com .*\\nreceiver: streaming\\n`));
  });

  it('a name another box streams with is refused STANDBY_IN_USE, changing nothing; this box copies again from the primary it follows', async () => {
    const c = await startBox(dir, 'c');
    const refused = ctlError(c, 'replication', 'standby', primaryA(), 'b.example.com', '--password', password, '--yes');
    assert.equal(refused.code, 'STANDBY_IN_USE');
    assert.match(refused.message, /has a standby streaming as b\.example\.com now/);
    assert.equal(shown(c)!.mode, 'off');
    assert.deepEqual((await readdir(join(c.root, 'mnt/sda2'))).filter((f) => f.startsWith('pgsql')), ['pgsql'], 'no copy left behind');
    // Its own receiver holds the slot: a fresh copy all the same.
    const answer = ctl(b, 'replication', 'standby', primaryA(), 'b.example.com', '--password', password, '--yes') as Shown;
    assert.equal(answer.standby!.switching, true);
    // This run set it up once already: the second switch is the new copy's.
    await until('the new copy in place', async () => ((b.run.output.text.match(/this box is a standby now: the previous cluster is removed/g)?.length ?? 0) >= 2 ? true : undefined), 60_000);
    await streamingFrom(b, a);
    await insertRows(a, db, 1501, 1600);
    await until('rows written after the new copy, on the standby', async () => ((await rows(b, db)) === 1600 ? true : undefined));
  });

  it('installs a service the primary installs later (its packages arrive by replication), without starting it, and lists its new instance', async () => {
    assert.equal(runApSync(['ctl', 'service', 'install', join(packages, 'echo'), '--root', a.root]).status, 0);
    ctl(a, 'instance', 'create', 'later@example.com', '--service', 'echo', '--password', 'later-pw');
    await until('echo installed on the standby', async () => (services(b).some((s) => s.name === 'echo') ? true : undefined), 90_000);
    assert.ok(existsSync(join(b.root, 'mnt/sda2/apps/echo/app.json')));
    assert.ok(services(b).every((s) => s.state !== 'running'));
    // Listed as on the primary, without a restart: a backup taken here finds it.
    await until('the new instance listed on the standby', async () => (instanceNames(b).includes('later') ? true : undefined), 60_000);
    ctl(b, 'backup', 'instance', 'later@example.com', '--file', join(dir, 'later.bak'));
  });

  it("starts while a restore runs on the primary (its scratch database replicated here), and once caught up it is not behind", async () => {
    // What an instance restore on the primary makes first; the primary drops it when done, never the read-only standby.
    await asSuperuser(a.root, 'postgres', (sql) => sql`CREATE DATABASE ap_restore_1234`);
    await until('the scratch database on the standby', async () =>
      (await asSuperuser(b.root, 'postgres', (sql) => sql`SELECT 1 FROM pg_database WHERE datname = 'ap_restore_1234'`)).length ? true : undefined,
    );
    await crashAndStart(b);
    await streamingFrom(b, a);
    assert.deepEqual(instanceNames(b).sort(), ['later', 'pbx']);
    // Restarted, the receiver counts from the start of its WAL segment, behind what was replayed: not "behind" for that.
    const metrics = (await fetchRaw(`http://127.0.0.1:${appPort(b)}/manager/metrics`)).body.toString();
    const lag = Number(/^ap_replication_replay_lag_bytes (\S+)/m.exec(metrics)?.[1]);
    assert.ok(lag >= 0, `replay lag ${lag} bytes`);
    await asSuperuser(a.root, 'postgres', (sql) => sql`DROP DATABASE ap_restore_1234`);
  });

  it('removes a service the primary uninstalls (its package leaves the replicated database), writing nothing into it', async () => {
    const done = ctl(a, 'service', 'uninstall', 'echo', '--instances', '--drop-databases') as { state: string; message: string };
    assert.equal(done.state, 'succeeded', done.message);
    await until("the package gone from the standby's database", async () =>
      (await asSuperuser(b.root, 'manager', (sql) => sql`SELECT 1 FROM packages WHERE service = 'echo'`)).length === 0 ? true : undefined,
    );
    // The standby follows at its package poll (every 30 s) or, here sooner, at its next start: removed there
    // too, not "stored" into its read-only database.
    await crashAndStart(b);
    await streamingFrom(b, a);
    assert.equal(services(b).some((s) => s.name === 'echo'), false);
    assert.equal(existsSync(join(b.root, 'mnt/sda2/apps/echo')), false);
    await b.run.waitFor(/removed echo .*its package left the manager database/);
    assert.doesNotMatch(b.run.output.text, /storing the installed echo in the manager database failed/);
    assert.deepEqual(instanceNames(b).sort(), ['pbx'], "the primary's deleted instance went by replication");
  });

  it('a malformed standby.conf is set aside with a clear log line: the box starts, not as a standby; put back, it is one again', async () => {
    const path = join(b.root, 'home/root/standby.conf');
    const good = await readFile(path, 'utf8');
    await writeFile(path, good.slice(0, 40));
    await crashAndStart(b);
    await b.run.waitFor(/standby\.conf is malformed \(not JSON.*\); moved to .*standby\.conf\.invalid-.*not as a standby/);
    await b.run.waitFor(/the cluster is a standby \(standby\.signal\) but there is no valid .*standby\.conf: starting read-only/);
    const aside = (await readdir(join(b.root, 'home/root'))).filter((f) => f.startsWith('standby.conf.invalid-'));
    assert.equal(aside.length, 1);
    assert.equal(existsSync(path), false);
    assert.equal((ctl(b, 'status') as { state: string }).state, 'running');
    // Not the primary it replicates: the stored mode and standbys are A's; nothing of them is applied here.
    const seen = shown(b)!;
    assert.equal(seen.mode, 'off');
    assert.equal((ctl(b, 'alarms') as { active: { code: string }[] }).active.filter((x) => x.code === 'REPLICATION_BROKEN').length, 0);
    assert.match(await readFile(join(b.root, 'mnt/sda2/pgsql/replication.conf'), 'utf8'), /^primary_conninfo = /m, "the standby's files stay");
    await writeFile(path, good, { mode: 0o600 });
    await crashAndStart(b);
    await streamingFrom(b, a);
  });

  it('off: needs confirming, then promotes it: writable, its own settings in its database, the instance runs', async () => {
    assert.equal(ctlError(b, 'replication', 'mode', 'off').code, 'CONFIRM_REQUIRED');
    assert.equal(shown(b)!.mode, 'standby');
    ctl(b, 'replication', 'mode', 'off', '--yes');
    await inMode(b, 'off');
    assert.equal(existsSync(join(b.root, 'home/root/standby.conf')), false);
    const config = await asSuperuser(b.root, 'manager', async (sql) => Object.fromEntries((await sql<{ name: string; value: string }[]>`SELECT name, value FROM config`).map((r) => [r.name, r.value])));
    assert.equal(config.dnsName, 'b.example.com', 'the setting made on the standby');
    assert.equal(config.devicesAppUrl, undefined, "the primary's setting is not this box's");
    assert.equal(config.replicationMode, 'off');
    await until('pbxecho running on B', async () => (services(b).some((s) => s.name === 'pbxecho' && s.state === 'running') ? true : undefined), 60_000);
    const counted = await until('the instance served on B', () => dbcount(b), 60_000);
    assert.equal(counted.n, 4, 'the replicated counter, written on');
    await insertRows(b, db, 1601, 1601);
    assert.equal(await rows(b, db), 1601);
    assert.equal(ctl(b, 'instance', 'create', 'new@example.com', '--service', 'pbxecho', '--password', 'new-pw').name, 'new');
  });
});
