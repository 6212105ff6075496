// A restore overwrites exactly the instance its caller names, never the one
// the backup file names (issue 15: on the page of echo1copy, a backup of echo1
// replaced echo1). The admin API as the Manager and ap ctl call it, a real
// PostgreSQL, real backups; and the rule itself as data.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { Api, StreamBody } from '../../src/api';
import type { InstanceMeta } from '../../src/backup/format';
import { planRestoreTarget, replaceTarget } from '../../src/backup/target';
import { writeStreamAtomic } from '../../src/fsutil';
import { ApError } from '../../src/errors';
import { Instances, type Instance } from '../../src/instances';
import { Jobs } from '../../src/jobs';
import type { TestCluster } from '../harness/pg';
import { backupBox, type BackupBox } from './box';

let cluster: TestCluster;
let dir: string;
let instances: Instances;
let jobs: Jobs;
let api: Api;
const domain = `t${randomBytes(4).toString('hex')}.example`;
const echo1 = `echo1@${domain}`;
const echo1copy = `echo1copy@${domain}`;
let file: string;

/** The rows of an instance's table, read as the instance's own user. */
async function notes(id: string): Promise<string[]> {
  const i = instances.get(id);
  const sql = postgres({ host: cluster.socketDir, port: cluster.port, database: i.dbName, username: i.dbUser, password: i.dbPassword, max: 1, onnotice: () => {} });
  try {
    return (await sql<{ v: string }[]>`SELECT v FROM notes ORDER BY v`).map((r) => r.v);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function write(id: string, value: string): Promise<void> {
  const i = instances.get(id);
  const sql = postgres({ host: cluster.socketDir, port: cluster.port, database: i.dbName, username: i.dbUser, password: i.dbPassword, max: 1, onnotice: () => {} });
  try {
    await sql`CREATE TABLE IF NOT EXISTS notes (v text)`;
    await sql`INSERT INTO notes VALUES (${value})`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** What a person would notice of both instances: settings and data. */
async function snapshot(): Promise<unknown> {
  const view = (i: Instance) => ({ password: i.password, path: i.path, dbName: i.dbName, traceFlags: i.traceFlags });
  return { echo1: [view(instances.get(echo1)), await notes(echo1)], echo1copy: [view(instances.get(echo1copy)), await notes(echo1copy)], ids: instances.list().map((i) => `${i.name}@${i.domain}`).sort() };
}

const upload = (query: Record<string, string>) => api.handle({ method: 'POST', path: '/restores/instances/upload', query, body: createReadStream(file) });

let box: BackupBox;

before(async () => {
  box = await backupBox('ap-rtarget-');
  ({ cluster, dir, instances, jobs, api } = box);
  await instances.create({ service: 'echo', name: 'echo1', domain, password: 'pw-echo1' });
  await instances.create({ service: 'echo', name: 'echo1copy', domain, password: 'pw-copy' });
  await write(echo1, 'echo1 at backup time');
  await write(echo1copy, 'only in echo1copy');
  const answer = await api.handle({ method: 'GET', path: `/backups/instances/${encodeURIComponent(echo1)}/download` });
  assert.ok(answer.body instanceof StreamBody);
  file = join(dir, 'echo1.apbk');
  await writeStreamAtomic(answer.body.chunks, file);
  await write(echo1, 'echo1 after the backup');
});

after(() => box.close());

describe('the instance a restore overwrites (API)', () => {
  it("refuses a backup of echo1 restored onto echo1copy's page (replace=echo1copy) with BACKUP_OF_OTHER_INSTANCE, changing neither", async () => {
    const before = await snapshot();
    const jobsBefore = jobs.list().length;
    // A file on the box: refused before any job starts.
    const answer = await api.handle({ method: 'POST', path: '/restores/instances', body: { file, replace: echo1copy } });
    assert.equal(answer.status, 409);
    const error = (answer.body as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'BACKUP_OF_OTHER_INSTANCE');
    assert.match(error.message, new RegExp(`backup is of ${echo1}, not of ${echo1copy}: nothing was changed.*as a copy`));
    assert.equal(jobs.list().length, jobsBefore, 'no job started');
    // An upload (its description comes at its end): its job fails so, once the upload is in.
    const uploaded = await upload({ replace: echo1copy });
    assert.equal(uploaded.status, 202);
    const failed = await jobs.settled((uploaded.body as { id: string }).id);
    assert.equal(failed?.state, 'failed');
    assert.match(failed!.message, new RegExp(`backup is of ${echo1}, not of ${echo1copy}: nothing was changed.*as a copy`));
    assert.deepEqual(await snapshot(), before);
  });

  it('needs an explicit target to overwrite: no replace, or replace=true, changes nothing', async () => {
    const before = await snapshot();
    const implicit = await api.handle({ method: 'POST', path: '/restores/instances', body: { file } });
    assert.equal(implicit.status, 409);
    assert.equal((implicit.body as { error: { code: string } }).error.code, 'EXISTS');
    const uploaded = await upload({});
    assert.equal(uploaded.status, 202);
    const failed = await jobs.settled((uploaded.body as { id: string }).id);
    assert.equal(failed?.state, 'failed');
    assert.match(failed!.message, /exists/i);
    const yes = await api.handle({ method: 'POST', path: '/restores/instances', body: { file, replace: true } });
    assert.equal(yes.status, 400);
    assert.match(JSON.stringify(yes.body), /INVALID_FIELD.*name the instance to overwrite/);
    assert.deepEqual(await snapshot(), before);
  });

  it('with replace=echo1 replaces echo1 and only echo1', async () => {
    const copyBefore = (await snapshot() as { echo1copy: unknown }).echo1copy;
    const started = await upload({ replace: echo1 });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await jobs.settled((started.body as { id: string }).id);
    assert.equal(done?.state, 'succeeded', done?.message);
    assert.deepEqual(await notes(echo1), ['echo1 at backup time']);
    assert.equal(instances.get(echo1).password, 'pw-echo1');
    assert.deepEqual((await snapshot() as { echo1copy: unknown }).echo1copy, copyBefore);
  });

  it("puts echo1's data into echo1copy only when asked for both: a copy named echo1copy that replaces echo1copy", async () => {
    const echo1Before = (await snapshot() as { echo1: unknown }).echo1;
    const started = await api.handle({ method: 'POST', path: '/restores/instances', body: { file, name: 'echo1copy', domain, replace: echo1copy } });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await jobs.settled((started.body as { id: string }).id);
    assert.equal(done?.state, 'succeeded', done?.message);
    assert.deepEqual(await notes(echo1copy), ['echo1 at backup time']);
    assert.equal(instances.get(echo1copy).dbName, `${domain}_echo1copy`, 'its own database, not echo1s');
    assert.deepEqual((await snapshot() as { echo1: unknown }).echo1, echo1Before);
  });

  it('restores as a copy under a new name: a new instance, the others untouched', async () => {
    const before = await snapshot() as { echo1: unknown; echo1copy: unknown };
    const started = await upload({ name: 'echo3', domain });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await jobs.settled((started.body as { id: string }).id);
    assert.equal(done?.state, 'succeeded', done?.message);
    assert.deepEqual(await notes(`echo3@${domain}`), ['echo1 at backup time']);
    const after = await snapshot() as { echo1: unknown; echo1copy: unknown };
    assert.deepEqual([after.echo1, after.echo1copy], [before.echo1, before.echo1copy]);
  });
});

describe('planRestoreTarget', () => {
  const meta = { name: 'echo1', domain: 'example.com' } as InstanceMeta;
  const existing = new Map([['echo1@example.com', { name: 'echo1' } as Instance], ['echo1copy@example.com', { name: 'echo1copy' } as Instance]]);
  const lookup = (id: string) => existing.get(id) ?? null;
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      return err instanceof ApError ? err.code : String(err);
    }
    return 'ok';
  };

  it('overwrites only a named target that is the instance the restore makes', () => {
    assert.equal(code(() => planRestoreTarget(meta, { replace: 'echo1copy@example.com' }, lookup)), 'BACKUP_OF_OTHER_INSTANCE');
    assert.equal(code(() => planRestoreTarget(meta, {}, lookup)), 'EXISTS');
    assert.equal(code(() => planRestoreTarget(meta, { name: 'echo1copy' }, lookup)), 'EXISTS');
    assert.equal(code(() => planRestoreTarget(meta, { name: 'other', replace: 'echo1copy@example.com' }, lookup)), 'INVALID_FIELD');
    assert.deepEqual(planRestoreTarget(meta, { replace: 'echo1@example.com' }, lookup), { id: 'echo1@example.com', clone: false, existing: existing.get('echo1@example.com') });
    assert.deepEqual(planRestoreTarget(meta, { name: 'echo1copy', replace: 'echo1copy@example.com' }, lookup).existing, existing.get('echo1copy@example.com'));
    assert.deepEqual(planRestoreTarget(meta, { name: 'new' }, lookup), { id: 'new@example.com', clone: true, existing: null });
    // A database left by a deleted instance is overwritten with its id named too.
    assert.deepEqual(planRestoreTarget({ name: 'gone', domain: 'example.com' } as InstanceMeta, { replace: 'gone@example.com' }, lookup), { id: 'gone@example.com', clone: false, existing: null });
  });

  it('reads replace as an instance id, never as yes', () => {
    assert.equal(replaceTarget(undefined), undefined);
    assert.equal(replaceTarget('echo1@example.com'), 'echo1@example.com');
    for (const bad of [true, 'true', '', 'echo1', 5]) assert.equal(code(() => replaceTarget(bad)), 'INVALID_FIELD', String(bad));
  });
});
