// Standbys end to end: three bundled supervisors with their own state roots
// and managed clusters on their own TCP ports (--pg-listen 127.0.0.1). A is
// a primary with an instance of pbxecho writing rows; B is set up as its
// standby through `ap ctl` (refusals first: nothing may change), then
// promoted to primary; C follows A, is re-pointed at B and resynchronises,
// then is promoted to a standalone box.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw, until } from '../harness/http';
import { asSuperuser, buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { freePort } from './clients';

interface Box {
  root: string;
  pgPort: number;
  run: Run;
  appPort: number;
}
interface Shown {
  mode: string;
  standby?: { primary: { host: string; port: number }; name: string; switching: boolean; streaming: boolean; receivedLsn: string | null; replayedLsn: string | null; replayDelaySeconds: number | null };
  standbys: { name: string; slotExists: boolean }[];
}

let dir: string;
const boxes: Box[] = [];

const serve = (root: string, pgPort: number) => runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--pg-listen', '127.0.0.1', '--db-port', String(pgPort)]);
async function startBox(name: string): Promise<Box> {
  const root = await rootWithConfig(join(dir, name), {});
  const pgPort = await freePort();
  const box = { root, pgPort, run: serve(root, pgPort), appPort: 0 };
  boxes.push(box);
  box.appPort = (await readyPorts(box.run)).app;
  return box;
}
/** kill -9 of the supervisor (its cluster is left running, as after a crash), then a start on the same root. */
async function crashAndStart(box: Box): Promise<void> {
  box.run.child.kill('SIGKILL');
  await box.run.exited;
  box.run = serve(box.root, box.pgPort);
  box.appPort = (await readyPorts(box.run)).app;
}
const ctlRun = (box: Box, args: string[]) => runApSync(['ctl', ...args, '--json', '--root', box.root]);
const ctl = (box: Box, ...args: string[]) => {
  const result = ctlRun(box, args);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
const ctlError = (box: Box, ...args: string[]): { code: string; message: string; field?: string } => {
  const result = ctlRun(box, args);
  assert.notEqual(result.status, 0, `ap ctl ${args.join(' ')} should fail: ${result.stdout}`);
  return JSON.parse(result.stdout).error;
};
/** GET /replication once the supervisor answers (it composes itself again after a switch). */
const shown = (box: Box): Shown | undefined => {
  const result = ctlRun(box, ['replication', 'show']);
  return result.status === 0 ? (JSON.parse(result.stdout) as Shown) : undefined;
};
/** The end of a supervisor's log, for a failure's message. */
const tail = (box: Box) => box.run.output.text.split('\n').slice(-40).join('\n');
const streamingFrom = (box: Box, primary: Box) =>
  until(`${box.root} streaming from port ${primary.pgPort}`, async () => {
    const s = shown(box);
    return s?.mode === 'standby' && !s.standby!.switching && s.standby!.primary.port === primary.pgPort && s.standby!.streaming ? s : undefined;
  }, 120_000).catch((err: Error) => {
    throw new Error(`${err.message}; it answers ${JSON.stringify(shown(box))}; its log ends:\n${tail(box)}`);
  });
const rows = (box: Box, db: string) => asSuperuser(box.root, db, async (sql) => (await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rows`)[0]!.n);
const insertRows = (box: Box, db: string, from: number, to: number) => asSuperuser(box.root, db, (sql) => sql`INSERT INTO rows SELECT g, md5(g::text) FROM generate_series(${from}::int, ${to}::int) g`);
const instanceNames = (box: Box) => (ctl(box, 'instance', 'list') as { instances: { name: string }[] }).instances.map((i) => i.name);
const services = (box: Box) => ctl(box, 'service', 'list') as { name: string; state: string }[];

describe('replication: standbys', () => {
  let a: Box;
  let b: Box;
  let c: Box;
  let db: string;
  const secrets: Record<string, string> = {};

  before(async () => {
    dir = await workspace('ap-standby-');
    a = await startBox('a');
    const pbxecho = await buildFixture('pbxecho', join(dir, 'packages'));
    assert.equal(runApSync(['ctl', 'service', 'install', pbxecho, '--root', a.root]).status, 0);
    ctl(a, 'instance', 'create', 'pbx@example.com', '--service', 'pbxecho', '--password', 'pbx-pw');
    // The instance writes through its service: its counter row, three times.
    await until('pbx served', async () => ((await fetchRaw(`http://127.0.0.1:${a.appPort}/example.com/pbx/dbcount`)).status === 200 ? true : undefined), 60_000);
    for (let i = 0; i < 2; i++) assert.equal((await fetchRaw(`http://127.0.0.1:${a.appPort}/example.com/pbx/dbcount`)).status, 200);
    db = (ctl(a, 'instance', 'show', 'pbx@example.com') as { database: { name: string } }).database.name;
    await asSuperuser(a.root, db, (sql) => sql`CREATE TABLE rows (id int PRIMARY KEY, pad text)`);
    await insertRows(a, db, 1, 1000);
    ctl(a, 'replication', 'mode', 'primary');
    for (const name of ['b.example.com', 'c.example.com']) secrets[name] = (ctl(a, 'replication', 'add', name) as { password: string }).password;
    b = await startBox('b');
    // B's own app, which becoming a standby removes.
    const echo = await buildFixture('echo', join(dir, 'packages'));
    assert.equal(runApSync(['ctl', 'service', 'install', echo, '--root', b.root]).status, 0);
    ctl(b, 'instance', 'create', 'local@example.com', '--service', 'echo', '--password', 'local-pw');
  });

  after(async () => {
    for (const box of boxes) await ensureStopped(box.run);
    await rm(dir, { recursive: true, force: true });
  });

  const primaryA = () => `127.0.0.1:${a.pgPort}`;

  it('refuses a setup unconfirmed, with bad fields, a wrong password, an unknown name or an unreachable primary, changing nothing', async () => {
    const unconfirmed = ctlError(b, 'replication', 'standby', primaryA(), 'b.example.com', '--password', secrets['b.example.com']!);
    assert.equal(unconfirmed.code, 'CONFIRM_REQUIRED');
    assert.match(unconfirmed.message, /removes the locally installed apps.*services echo; instances local@example\.com/);
    assert.equal(ctlError(b, 'replication', 'standby', 'bad host', 'b.example.com', '--password', 'x', '--yes').field, 'primary');
    assert.equal(ctlError(b, 'replication', 'standby', primaryA(), 'not a name', '--password', 'x', '--yes').field, 'name');
    const wrong = ctlError(b, 'replication', 'standby', primaryA(), 'b.example.com', '--password', `${secrets['b.example.com']}x`, '--yes');
    assert.equal(wrong.code, 'STANDBY_AUTH');
    assert.match(wrong.message, /password authentication failed/);
    assert.equal(ctlError(b, 'replication', 'standby', primaryA(), 'nobody.example.com', '--password', 'x', '--yes').code, 'STANDBY_UNKNOWN');
    assert.equal(ctlError(b, 'replication', 'standby', `127.0.0.1:${await freePort()}`, 'b.example.com', '--password', 'x', '--yes').code, 'PRIMARY_UNREACHABLE');
    // B as it was: off, its app installed and running, its instance there, no copy left behind.
    assert.equal(shown(b)!.mode, 'off');
    await until('echo running', async () => (services(b).some((s) => s.name === 'echo' && s.state === 'running') ? true : undefined));
    assert.deepEqual(instanceNames(b), ['local']);
    assert.deepEqual((await readdir(join(b.root, 'mnt/sda2'))).filter((f) => f.startsWith('pgsql')), ['pgsql']);
    assert.equal(existsSync(join(b.root, 'home/root/standby.conf')), false);
  });

  it('a copy that a crash left before the setup decided (no marker) is removed at the next start; the box stays as it was', async () => {
    const copy = join(b.root, 'mnt/sda2/pgsql.standby');
    await mkdir(copy);
    await writeFile(join(copy, 'PG_VERSION'), '15\n');
    await crashAndStart(b);
    assert.equal(existsSync(copy), false);
    assert.equal(shown(b)!.mode, 'off');
    assert.deepEqual(instanceNames(b), ['local']);
    await until('echo running again', async () => (services(b).some((s) => s.name === 'echo' && s.state === 'running') ? true : undefined), 60_000);
  });

  it("set up through ap ctl: streams, sees every row, refuses writes; the primary's service is installed and not running, the local app is gone", async () => {
    ctl(b, 'setting', 'set', 'dnsName', 'b-before.example.com');
    const answer = ctl(b, 'replication', 'standby', primaryA(), 'B.example.com', '--password', secrets['b.example.com']!, '--yes') as Shown;
    assert.equal(answer.mode, 'standby');
    assert.equal(answer.standby!.switching, true);
    const state = await streamingFrom(b, a);
    assert.equal(state.standby!.name, 'b.example.com');
    assert.match(state.standby!.replayedLsn!, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(await rows(b, db), 1000);
    await insertRows(a, db, 1001, 1500);
    await until('the new rows on the standby', async () => ((await rows(b, db)) === 1500 ? true : undefined));
    // In the instance's own schema (its user's).
    const counter = await asSuperuser(b.root, db, async (sql) => {
      const [where] = await sql<{ schemaname: string }[]>`SELECT schemaname FROM pg_tables WHERE tablename = 'echo_counter'`;
      return (await sql.unsafe<{ n: number }[]>(`SELECT n FROM "${where!.schemaname}".echo_counter`))[0]!.n;
    });
    assert.equal(counter, 3, "the instance's own writes");
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
    // Its own settings: kept from before, changed in standby.conf.
    assert.equal((ctl(b, 'setting', 'list') as { settings: Record<string, { value: string }> }).settings.dnsName!.value, 'b-before.example.com');
    ctl(b, 'setting', 'set', 'dnsName', 'b.example.com');
    assert.deepEqual(await readdir(join(b.root, 'mnt/sda2')).then((f) => f.filter((x) => x.startsWith('pgsql'))), ['pgsql'], 'the old cluster and the marker are gone');
    const text = runApSync(['ctl', 'replication', '--root', b.root]).stdout;
    assert.match(text, new RegExp(`^mode: +standby of 127\\.0\\.0\\.1:${a.pgPort} as b\\.example\\.com .*\\nreceiver: streaming\\n`));
  });

  it('promoted to primary: writable, its own settings in its database, instances run, the standby entries offered', async () => {
    assert.equal(ctlError(b, 'replication', 'mode', 'primary').code, 'CONFIRM_REQUIRED');
    ctl(b, 'replication', 'mode', 'primary', '--yes');
    const state = await until('B primary', async () => {
      const s = shown(b);
      return s?.mode === 'primary' ? s : undefined;
    }, 120_000);
    assert.deepEqual(state.standbys.map((s) => s.name), ['b.example.com', 'c.example.com']);
    assert.ok(state.standbys.every((s) => s.slotExists), 'fresh slots');
    assert.equal(existsSync(join(b.root, 'home/root/standby.conf')), false);
    const dns = await asSuperuser(b.root, 'manager', async (sql) => (await sql<{ value: string }[]>`SELECT value FROM config WHERE name = 'dnsName'`)[0]?.value);
    assert.equal(dns, 'b.example.com', 'the setting made on the standby');
    await until('pbxecho running on B', async () => (services(b).some((s) => s.name === 'pbxecho' && s.state === 'running') ? true : undefined), 60_000);
    const counted = await until('the instance served on B', async () => {
      // Composed again: --http-port 0 took a new port.
      const r = await fetchRaw(`http://127.0.0.1:${(ctl(b, 'status') as { http: { port: number } }).http.port}/example.com/pbx/dbcount`);
      return r.status === 200 ? (JSON.parse(r.body.toString()) as { n: number }) : undefined;
    }, 60_000);
    assert.equal(counted.n, 4, 'the replicated counter, written on');
  });

  it('a second standby re-pointed at the promoted one resynchronises from scratch; then promoted off, it is a standalone box', async () => {
    c = await startBox('c');
    ctl(c, 'replication', 'standby', primaryA(), 'c.example.com', '--password', secrets['c.example.com']!, '--yes');
    await streamingFrom(c, a);
    ctl(c, 'replication', 'standby', `127.0.0.1:${b.pgPort}`, 'c.example.com', '--password', secrets['c.example.com']!, '--yes');
    await streamingFrom(c, b);
    await insertRows(b, db, 1501, 1600);
    await until('rows written on the new primary, on C', async () => ((await rows(c, db)) === 1600 ? true : undefined));
    ctl(c, 'replication', 'mode', 'off', '--yes');
    await until('C off', async () => (shown(c)?.mode === 'off' ? true : undefined), 120_000);
    await insertRows(c, db, 1601, 1601);
    assert.equal(await rows(c, db), 1601, 'writable');
  });
});
