// The backup download and the restore upload at the admin API (the HTTP
// transport mounts these with the Manager): a real PostgreSQL, a real backup.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { Api, StreamBody } from '../../src/api';
import { verifyBackupFile } from '../../src/backup';
import { writeStreamAtomic } from '../../src/fsutil';
import { Instances } from '../../src/instances';
import { Jobs } from '../../src/jobs';
import type { TestCluster } from '../harness/pg';
import { backupBox, type BackupBox } from './box';

let cluster: TestCluster;
let dir: string;
let instances: Instances;
let jobs: Jobs;
let api: Api;
const domain = `t${randomBytes(4).toString('hex')}.example`;
const id = `app@${domain}`;

let box: BackupBox;

before(async () => {
  box = await backupBox('ap-bkapi-');
  ({ cluster, dir, instances, jobs, api } = box);
});

after(() => box.close());

describe('backup download and restore upload (admin API)', () => {
  it('downloads a backup as a stream and restores it from an upload', async () => {
    const inst = await instances.create({ service: 'echo', name: 'app', domain, password: 'pw' });
    const own = postgres({ host: cluster.socketDir, port: cluster.port, database: inst.dbName, username: inst.dbUser, password: inst.dbPassword, max: 1, onnotice: () => {} });
    await own`CREATE TABLE notes (v text)`;
    await own`INSERT INTO notes VALUES ('kept')`;
    await own.end({ timeout: 1 });

    const answer = await api.handle({ method: 'GET', path: `/backups/instances/${encodeURIComponent(id)}/download` });
    assert.equal(answer.status, 200);
    assert.ok(answer.body instanceof StreamBody);
    assert.equal(answer.body.filename, `backup-${inst.dbName}.dump`);
    const file = join(dir, 'download.apbk');
    await writeStreamAtomic(answer.body.chunks, file);
    assert.equal((await verifyBackupFile(file)).meta.instance!.password, 'pw');

    await instances.delete(id, { dropDatabase: true });
    const started = await api.handle({ method: 'POST', path: '/restores/instances/upload', query: {}, body: createReadStream(file) });
    assert.equal(started.status, 202);
    const done = await jobs.settled((started.body as { id: string }).id);
    assert.equal(done?.state, 'succeeded', done?.message);
    const back = instances.get(id);
    const sql = postgres({ host: cluster.socketDir, port: cluster.port, database: back.dbName, username: back.dbUser, password: back.dbPassword, max: 1, onnotice: () => {} });
    assert.deepEqual([...(await sql`SELECT v FROM notes`)], [{ v: 'kept' }]);
    await sql.end({ timeout: 1 });
    assert.deepEqual(await readdir(dir), ['download.apbk']); // the upload's copy is gone
  });

  it('refuses a damaged upload without changing anything, and leaves no copy', async () => {
    const before = instances.list();
    const started = await api.handle({ method: 'POST', path: '/restores/instances/upload', query: { replace: id }, body: Readable.from([Buffer.from('APBACKUP1\nnot really')]) });
    const done = await jobs.settled((started.body as { id: string }).id);
    assert.equal(done?.state, 'failed');
    assert.match(done!.message, /cut short|damaged|too short|header/);
    // Said of the person's file, not of the box's copy of it.
    assert.match(done!.message, /^the uploaded file /);
    assert.doesNotMatch(done!.message, /upload-[0-9a-f]+\.dump/);
    assert.deepEqual(instances.list(), before);
    assert.deepEqual(await readdir(dir), ['download.apbk']);
  });

  it('refuses a backup to a file it cannot write before any job starts: its folder missing, or a folder', async () => {
    const started = jobs.list().length;
    for (const [file, message] of [[join(dir, 'no-such', 'b.apbk'), /^file: cannot write .*: the folder .*no-such does not exist$/], [dir, /^file: .* is a folder: give the path of the file to write$/]] as const) {
      for (const path of ['/backups/manager', `/backups/instances/${encodeURIComponent(id)}`]) {
        const answer = (await api.handle({ method: 'POST', path, body: { file } })) as { status: number; body: { error: { code: string; field: string; message: string } } };
        assert.deepEqual([answer.status, answer.body.error.code, answer.body.error.field], [400, 'INVALID_FIELD', 'file'], JSON.stringify(answer.body));
        assert.match(answer.body.error.message, message);
      }
    }
    assert.equal(jobs.list().length, started, 'no job started');
  });

  it('says plainly that downloads and uploads need HTTP on the admin socket', async () => {
    const down = await api.handle({ method: 'GET', path: `/backups/instances/${encodeURIComponent(id)}/download` }, undefined, 'local');
    assert.equal(down.status, 400);
    assert.match(JSON.stringify(down.body), /NEEDS_HTTP/);
    const up = await api.handle({ method: 'POST', path: '/restores/manager/upload', body: {} }, undefined, 'local');
    assert.equal(up.status, 400);
  });
});
