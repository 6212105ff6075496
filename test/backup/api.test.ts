// The backup download and the restore upload at the admin API (the HTTP
// transport mounts these with the Manager): a real PostgreSQL, a real backup.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { Api, StreamBody } from '../../src/api';
import { Backups, BackupSchedule, verifyBackupFile } from '../../src/backup';
import { backupRoutes } from '../../src/backup/api';
import { writeStreamAtomic } from '../../src/fsutil';
import { findPgBin, findPgTools, migrate, MIGRATIONS, settings } from '../../src/db';
import { Instances } from '../../src/instances';
import { Jobs } from '../../src/jobs';
import { createLogger } from '../../src/log';
import { createTestDatabase, stopTestCluster, testCluster, type TestCluster, type TestDatabase } from '../harness/pg';
import { workspace } from '../harness/workspace';

const log = createLogger({ level: 'error', file: null });
let cluster: TestCluster;
let db: TestDatabase;
let dir: string;
let instances: Instances;
let jobs: Jobs;
let api: Api;
const domain = `t${randomBytes(4).toString('hex')}.example`;
const id = `app@${domain}`;

before(async () => {
  cluster = await testCluster();
  db = await createTestDatabase();
  await migrate(db.sql, MIGRATIONS, log);
  dir = await workspace('ap-bkapi-');
  instances = await Instances.open({
    sql: db.sql,
    cluster: { socketDir: cluster.socketDir, port: cluster.port },
    services: { installed: () => true, running: () => false, control: () => false },
    log,
    onRoutes: () => {},
    closeConnections: () => {},
  });
  jobs = new Jobs();
  const store = settings(db.sql);
  const backups = new Backups({
    sql: db.sql,
    instances,
    jobs,
    settings: store,
    log,
    tools: () => findPgTools(findPgBin(process.env.AP_PG_BIN ?? null)),
    cluster: { socketDir: cluster.socketDir, port: cluster.port },
    serviceInfo: () => ({ version: '1.0.0', label: '100001' }),
    supervisor: { version: '0.0.0', label: 'test' },
    boxLabel: () => 'test',
    mac: () => '',
    schemaVersion: () => MIGRATIONS.at(-1)!.version,
    latestSchema: MIGRATIONS.at(-1)!.version,
    afterManagerRestore: async () => {},
  });
  api = new Api(backupRoutes(backups, new BackupSchedule({ backups, settings: store, log }), dir));
});

after(async () => {
  const rows = await db.sql<{ db_name: string; db_user: string }[]>`SELECT db_name, db_user FROM instances`;
  for (const r of rows) {
    await db.sql.unsafe(`DROP DATABASE IF EXISTS "${r.db_name}" WITH (FORCE)`);
    await db.sql.unsafe(`DROP ROLE IF EXISTS "${r.db_user}"`);
  }
  await db.drop();
  await stopTestCluster();
  await rm(dir, { recursive: true, force: true });
});

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
    assert.match(answer.body.filename, new RegExp(`^app-${domain.replace(/\./g, '\\.')}-\\d{8}-\\d{6}\\.apbk$`));
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
    assert.deepEqual(instances.list(), before);
    assert.deepEqual(await readdir(dir), ['download.apbk']);
  });

  it('says plainly that downloads and uploads need HTTP on the admin socket', async () => {
    const down = await api.handle({ method: 'GET', path: `/backups/instances/${encodeURIComponent(id)}/download` }, undefined, 'json');
    assert.equal(down.status, 400);
    assert.match(JSON.stringify(down.body), /NEEDS_HTTP/);
    const up = await api.handle({ method: 'POST', path: '/restores/manager/upload', body: {} }, undefined, 'json');
    assert.equal(up.status, 400);
  });
});
