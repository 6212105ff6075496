// Backups on a standby (test/replication/boxes.ts): A is a primary with an
// instance holding rows, B its standby. B's instance backups (to a file, and
// the command file's uploads) read its replica and restore on A with their
// rows; a restore of an instance on B is refused. B's Manager backup carries
// its standby.conf: restored on B it brings B's settings back (the link to
// the primary stays), refused on A; A's Manager backup is refused on B.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { END_SIZE } from '../../src/backup/format';
import { until } from '../harness/http';
import { asSuperuser, buildFixture, runAp, runApSync } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { createRows, ctl, ctlError, insertRows, rows, startBox, stopBoxes, streamingFrom, type Box } from './boxes';

/** The JSON header of a backup file (format.ts, format 2: the dump, the header, the end mark with both lengths). */
const header = (bytes: Buffer) => {
  const end = bytes.length - END_SIZE;
  const dumpLength = Number(bytes.readBigUInt64BE(end + 12));
  return JSON.parse(bytes.subarray(dumpLength, dumpLength + bytes.readUInt32BE(end + 8)).toString('utf8')) as { kind: string; standbyConf?: string };
};
const setting = (box: Box, name: string) => (ctl(box, 'setting', 'list') as { settings: Record<string, { value: string }> }).settings[name]!.value;
const instanceDb = (box: Box, id: string) => (ctl(box, 'instance', 'show', id) as { database: { name: string } }).database.name;

describe('replication: backups on a standby', () => {
  let dir: string;
  let a: Box;
  let b: Box;
  let db: string;
  let server: Server;
  const uploads = new Map<string, Buffer>();

  before(async () => {
    dir = await workspace('ap-standby-backup-');
    a = await startBox(dir, 'a');
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', a.root]).status, 0);
    ctl(a, 'instance', 'create', 'shop@example.com', '--service', 'echo', '--password', 'shop-pw');
    db = instanceDb(a, 'shop@example.com');
    await createRows(a, db);
    await insertRows(a, db, 1, 300);
    ctl(a, 'setting', 'set', 'dnsName', 'a.example.com');
    ctl(a, 'replication', 'mode', 'primary');
    const password = (ctl(a, 'replication', 'add', 'b.example.com') as { password: string }).password;
    b = await startBox(dir, 'b');
    ctl(b, 'setting', 'set', 'dnsName', 'b.example.com');
    ctl(b, 'replication', 'standby', `127.0.0.1:${a.pgPort}`, 'b.example.com', '--password', password, '--yes');
    await streamingFrom(b, a);
    await until('the rows on the standby', async () => ((await rows(b, db)) === 300 ? true : undefined));
    server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        uploads.set(req.url!, Buffer.concat(parts));
        res.writeHead(201).end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  after(async () => {
    server?.close();
    await stopBoxes();
    await rm(dir, { recursive: true, force: true });
  });

  it("the standby's cluster gives a dump 10 minutes before a conflicting replay cancels it, without feedback to the primary", async () => {
    const shown = await asSuperuser(b.root, 'postgres', (sql) => sql<{ delay: string; feedback: string; recovery: boolean }[]>`SELECT current_setting('max_standby_streaming_delay') AS delay, current_setting('hot_standby_feedback') AS feedback, pg_is_in_recovery() AS recovery`);
    assert.deepEqual({ ...shown[0] }, { delay: '10min', feedback: 'off', recovery: true });
  });

  it('an instance backup on the standby reads its replica and restores on the primary with its rows; its restore on the standby is refused', async () => {
    const file = join(dir, 'shop-from-b.apbk');
    const job = ctl(b, 'backup', 'instance', 'shop@example.com', '--file', file) as { state: string };
    assert.equal(job.state, 'succeeded');
    assert.equal(header(await readFile(file)).kind, 'instance');
    assert.equal((ctl(b, 'backup', 'verify', file) as { state: string }).state, 'succeeded');
    assert.equal(ctlError(b, 'backup', 'verify', file, '--restore-test').code, 'NOT_ON_STANDBY', 'a restore test needs a scratch database');
    assert.equal(ctlError(b, 'restore', 'instance', file, '--name', 'copy').code, 'NOT_ON_STANDBY');
    // Written on the primary after the backup: the restore brings the standby's 300 back.
    await insertRows(a, db, 301, 350);
    const restored = ctl(a, 'restore', 'instance', file, '--replace', 'shop@example.com') as { state: string; message: string };
    assert.equal(restored.state, 'succeeded', restored.message);
    assert.equal(await rows(a, instanceDb(a, 'shop@example.com')), 300);
    await until('the restore replicated to the standby', async () => ((await rows(b, instanceDb(b, 'shop@example.com'))) === 300 ? true : undefined));
  });

  it("the command file's backups run on the standby: the instance and the Manager (with its standby.conf) are uploaded", async () => {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    ctl(b, 'setting', 'set', 'commandFile', `backup-instances ${base}/#I-#D.apbk PUT\nbackup-manager ${base}/manager.apbk PUT\n`);
    const run = runAp(['ctl', 'backup', 'run', '--json', '--root', b.root]);
    const [code] = await run.exited;
    assert.equal(code, 0, run.output.text);
    const outcome = JSON.parse(run.output.text) as { ok: number; failed: number };
    assert.deepEqual([outcome.ok, outcome.failed], [3, 0], 'the manager twice (each line), the instance once');
    const instance = uploads.get('/shop-example.com.apbk');
    assert.ok(instance, `uploaded: ${[...uploads.keys()].join(', ')}`);
    const file = join(dir, 'shop-uploaded.apbk');
    await writeFile(file, instance);
    const clone = ctl(a, 'restore', 'instance', file, '--name', 'clone') as { state: string; message: string };
    assert.equal(clone.state, 'succeeded', clone.message);
    assert.equal(await rows(a, instanceDb(a, 'clone@example.com')), 300);
    assert.match(header(uploads.get('/manager.apbk')!).standbyConf ?? '', /"dnsName": ?"b\.example\.com"/);
  });

  it("the standby's Manager backup carries standby.conf: restored on the standby its settings come back, the primary refuses it", async () => {
    const file = join(dir, 'manager-b.apbk');
    assert.equal((ctl(b, 'backup', 'manager', '--file', file) as { state: string }).state, 'succeeded');
    const conf = header(await readFile(file)).standbyConf!;
    assert.match(conf, /"primary"/);
    ctl(b, 'setting', 'set', 'dnsName', 'changed.example.com');
    assert.equal(setting(b, 'dnsName'), 'changed.example.com');

    const onPrimary = ctlError(a, 'restore', 'manager', file);
    assert.equal(onPrimary.code, 'STANDBY_BACKUP');
    assert.match(onPrimary.message, /taken on a standby.*restores on a standby only/);
    assert.equal(setting(a, 'dnsName'), 'a.example.com', "the primary's settings are untouched");

    const answer = ctl(b, 'restore', 'manager', file) as { restored: string; settings: number };
    assert.equal(answer.restored, 'standby.conf');
    assert.ok(answer.settings >= 1);
    await b.run.waitFor(/restored this standby's settings/);
    await streamingFrom(b, a);
    assert.equal(setting(b, 'dnsName'), 'b.example.com');
    assert.match(await readFile(join(b.root, 'home/root/standby.conf'), 'utf8'), /"dnsName": ?"b\.example\.com"/);

    const fromPrimary = join(dir, 'manager-a.apbk');
    assert.equal((ctl(a, 'backup', 'manager', '--file', fromPrimary) as { state: string }).state, 'succeeded');
    assert.equal(header(await readFile(fromPrimary)).standbyConf, undefined);
    const refused = ctlError(b, 'restore', 'manager', fromPrimary);
    assert.equal(refused.code, 'NOT_ON_STANDBY');
    assert.equal(setting(b, 'dnsName'), 'b.example.com');
  });
});
