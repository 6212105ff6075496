// Failover with several standbys, as the seed says: B and C follow A; B is
// promoted to primary (the standby entries come with it, with fresh slots);
// C's own setup is cut by a kill -9 after it decided, and its next start
// finishes it;
// C is pointed at B and resynchronises from scratch; C's promotion, cut by a
// kill -9 after pg_promote, is finished by its next start.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { asSuperuser, runAp } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { crashAndStart, createRows, ctl, inMode, insertRows, rows, shown, startBox, stopBoxes, streamingFrom, type Box } from './boxes';

describe('replication: failover with two standbys', () => {
  let dir: string;
  let a: Box;
  let b: Box;
  let c: Box;
  const passwords: Record<string, string> = {};
  const db = 'rowsdb';

  before(async () => {
    dir = await workspace('ap-repoint-');
    a = await startBox(dir, 'a');
    await asSuperuser(a.root, 'postgres', (sql) => sql`CREATE DATABASE rowsdb`);
    await createRows(a, db);
    await insertRows(a, db, 1, 100);
    ctl(a, 'replication', 'mode', 'primary');
    for (const name of ['b.example.com', 'c.example.com']) passwords[name] = (ctl(a, 'replication', 'add', name) as { password: string }).password;
    [b, c] = await Promise.all([startBox(dir, 'b'), startBox(dir, 'c')]);
    ctl(b, 'replication', 'standby', `127.0.0.1:${a.pgPort}`, 'b.example.com', '--password', passwords['b.example.com']!, '--yes');
    await streamingFrom(b, a);
  });

  after(async () => {
    await stopBoxes();
    await rm(dir, { recursive: true, force: true });
  });

  it('a setup cut by kill -9 right after it decided (the old cluster may still run) is finished by the next start', async () => {
    const setup = runAp(['ctl', 'replication', 'standby', `127.0.0.1:${a.pgPort}`, 'c.example.com', '--password', passwords['c.example.com']!, '--yes', '--json', '--root', c.root]);
    await c.run.waitFor(/base backup from .* taken: switching to standby/, 120_000);
    await crashAndStart(c);
    await setup.exited;
    await streamingFrom(c, a);
    assert.equal(await rows(c, db), 100);
    assert.deepEqual((await readdir(join(c.root, 'mnt/sda2'))).filter((f) => f.startsWith('pgsql')), ['pgsql'], 'the old cluster and the marker are gone');
  });

  it('a standby promoted to primary offers the other standby entries, with fresh slots, not its own', async () => {
    ctl(b, 'replication', 'mode', 'primary', '--yes');
    const state = await inMode(b, 'primary');
    assert.deepEqual(state.standbys.map((s) => [s.name, s.password]), [['c.example.com', passwords['c.example.com']]]);
    assert.ok(state.standbys.every((s) => s.slotExists));
    // Its own entry would keep WAL for no one and be "broken" at once.
    assert.deepEqual((ctl(b, 'alarms') as { active: { source: string }[] }).active.map((x) => x.source).filter((s) => s.startsWith('replication')), []);
    await insertRows(b, db, 101, 150);
    assert.equal(await rows(b, db), 150, 'writable');
  });

  it('the other standby, pointed at the new primary, resynchronises from scratch and follows it', async () => {
    ctl(c, 'replication', 'standby', `127.0.0.1:${b.pgPort}`, 'c.example.com', '--password', passwords['c.example.com']!, '--yes');
    await streamingFrom(c, b);
    await insertRows(b, db, 151, 200);
    await until('rows written on the new primary, on C', async () => ((await rows(c, db)) === 200 ? true : undefined));
  });

  it('a promotion cut by kill -9 after pg_promote is finished by the next start: off, writable, standby.conf gone', async () => {
    await asSuperuser(c.root, 'postgres', (sql) => sql`SELECT pg_promote(true, 60)`);
    await crashAndStart(c);
    await inMode(c, 'off');
    assert.equal(existsSync(join(c.root, 'home/root/standby.conf')), false);
    await insertRows(c, db, 201, 201);
    assert.equal(await rows(c, db), 201);
    assert.equal(shown(c)!.standby, undefined);
  });
});
