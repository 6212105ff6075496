// Encrypted backups through the Manager's way in (the admin API's download and
// upload, as the HTTP transport mounts them): with a key set the download is
// encrypted and named so; an upload is decrypted and checked by the job before
// anything changes, and refused without the key or with another one. A plain
// backup restores whether a key is set or not.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { StreamBody } from '../../src/api';
import { writeStreamAtomic } from '../../src/fsutil';
import { backupBox, type BackupBox } from './box';

const domain = `t${randomBytes(4).toString('hex')}.example`;
const id = `app@${domain}`;
let box: BackupBox;

before(async () => {
  box = await backupBox('ap-bkenc-');
});
after(() => box.close());

/** The instance's rows, as its own user sees them. */
async function rows(): Promise<string[]> {
  const inst = box.instances.get(id);
  const sql = postgres({ host: box.cluster.socketDir, port: box.cluster.port, database: inst.dbName, username: inst.dbUser, password: inst.dbPassword, max: 1, onnotice: () => {} });
  try {
    return (await sql<{ v: string }[]>`SELECT v FROM notes ORDER BY v`).map((r) => r.v);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function download(path: string, name: string): Promise<{ file: string; filename: string }> {
  const answer = await box.api.handle({ method: 'GET', path });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.ok(answer.body instanceof StreamBody);
  const file = join(box.dir, name);
  await writeStreamAtomic(answer.body.chunks, file);
  return { file, filename: answer.body.filename };
}

/** Restores `file` over the instance by upload; the job as it ended. */
async function uploadOver(file: string) {
  const started = await box.api.handle({ method: 'POST', path: '/restores/instances/upload', query: { replace: id }, body: createReadStream(file) });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  return (await box.jobs.settled((started.body as { id: string }).id))!;
}

describe('encrypted backups by download and upload', () => {
  let encrypted: string;
  let plain: string;

  it('downloads encrypted backups (instance and Manager) named *.dump.enc once a key is set, and restores one by upload', async () => {
    await box.instances.create({ service: 'echo', name: 'app', domain, password: 'pw' });
    const inst = box.instances.get(id);
    const own = postgres({ host: box.cluster.socketDir, port: box.cluster.port, database: inst.dbName, username: inst.dbUser, password: inst.dbPassword, max: 1, onnotice: () => {} });
    await own`CREATE TABLE notes (v text)`;
    await own`INSERT INTO notes VALUES ('kept')`;
    await own.end({ timeout: 1 });
    const path = `/backups/instances/${encodeURIComponent(id)}/download`;

    const before = await download(path, 'plain.dump');
    plain = before.file;
    assert.equal(before.filename, `backup-${inst.dbName}.dump`);

    const generated = await box.api.handle({ method: 'POST', path: '/backups/key/generate' });
    assert.equal(generated.status, 200);
    const again = await box.api.handle({ method: 'POST', path: '/backups/key/generate' });
    assert.equal(again.status, 409);
    assert.match(JSON.stringify(again.body), /BACKUP_KEY_EXISTS/);

    const got = await download(path, 'download.enc');
    encrypted = got.file;
    assert.equal(got.filename, `backup-${inst.dbName}.dump.enc`);
    assert.equal((await readFile(encrypted)).subarray(0, 8).toString('latin1'), 'APBKENC1');
    // This box's manager database has a test's name, so pg_dump would fail: its first bytes and its name are enough here.
    const manager = await box.api.handle({ method: 'GET', path: '/backups/manager/download' });
    assert.ok(manager.body instanceof StreamBody);
    assert.match(manager.body.filename, /^backup-manager-.*\.dump\.enc$/);
    const chunks = manager.body.chunks as AsyncGenerator<Buffer>;
    assert.equal((await chunks.next()).value.subarray(0, 8).toString('latin1'), 'APBKENC1');
    manager.body.cancel?.();
    await chunks.return(undefined);

    await box.instances.edit(id, { traceFlags: 3 });
    const done = await uploadOver(encrypted);
    assert.equal(done.state, 'succeeded', done.message);
    assert.deepEqual(await rows(), ['kept']);
    assert.equal(box.instances.get(id).traceFlags, inst.traceFlags, "the backup's settings came back");
    assert.deepEqual((await readdir(box.dir)).filter((n) => n.startsWith('upload-')), [], "the upload's copy is gone");
  });

  it('restores a plain backup while a key is set', async () => {
    const done = await uploadOver(plain);
    assert.equal(done.state, 'succeeded', done.message);
    assert.deepEqual(await rows(), ['kept']);
  });

  it('fails an upload without the key, or with another, before anything changes', async () => {
    const exported = (await box.api.handle({ method: 'POST', path: '/backups/key/export' })).body as { key: string };
    const removed = await box.api.handle({ method: 'POST', path: '/backups/key/remove', body: {} });
    assert.equal(removed.status, 409, 'not without confirm');
    assert.equal((await box.api.handle({ method: 'POST', path: '/backups/key/remove', body: { confirm: true } })).status, 200);
    const own = box.instances.get(id);
    const sql = postgres({ host: box.cluster.socketDir, port: box.cluster.port, database: own.dbName, username: own.dbUser, password: own.dbPassword, max: 1, onnotice: () => {} });
    await sql`INSERT INTO notes VALUES ('newer')`;
    await sql.end({ timeout: 1 });
    const instancesBefore = box.instances.list();

    const missing = await uploadOver(encrypted);
    assert.equal(missing.state, 'failed');
    assert.match(missing.message, /encrypted backup .* no backup key: import its key first/);
    await box.api.handle({ method: 'POST', path: '/backups/key/generate' });
    const wrong = await uploadOver(encrypted);
    assert.equal(wrong.state, 'failed');
    assert.match(wrong.message, /another backup key/);
    assert.deepEqual(box.instances.list(), instancesBefore);
    assert.deepEqual(await rows(), ['kept', 'newer']);
    assert.deepEqual((await readdir(box.dir)).filter((n) => n.startsWith('upload-')), []);

    // Its own key again: the import takes the exported text, and the upload restores.
    await box.api.handle({ method: 'POST', path: '/backups/key/remove', body: { confirm: true } });
    const imported = await box.api.handle({ method: 'POST', path: '/backups/key/import', body: { key: exported.key } });
    assert.equal(imported.status, 200, JSON.stringify(imported.body));
    const done = await uploadOver(encrypted);
    assert.equal(done.state, 'succeeded', done.message);
    assert.deepEqual(await rows(), ['kept']);
  });
});
