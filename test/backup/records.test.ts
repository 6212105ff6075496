// Each instance's last backup (GET /backups/last, the backup metrics, the
// Manager's Home): every way an instance is backed up ends in its record —
// a job to a file, a failed one, a download, a download the client cut off
// (not recorded), one a restart cut off — and the records outlive a
// restart, and leave with their instance.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StreamBody } from '../../src/api';
import { Alarms } from '../../src/alarms';
import { BackupRecords, type BackupRecordView } from '../../src/backup';
import { INTERRUPTED, Jobs } from '../../src/jobs';
import { backupFinished } from '../../src/supervisor/wiring';
import { backupBox, type BackupBox } from './box';
import { UNWRITABLE_FILE } from '../harness/workspace';

let box: BackupBox;
const domain = `t${randomBytes(4).toString('hex')}.example`;
const id = `rec@${domain}`;

before(async () => {
  box = await backupBox('ap-bkrec-');
  await box.instances.create({ service: 'echo', name: 'rec', domain, password: 'pw' });
});

after(() => box.close());

const last = async (): Promise<BackupRecordView[]> => {
  const answer = await box.api.handle({ method: 'GET', path: '/backups/last' });
  assert.equal(answer.status, 200);
  return (answer.body as { records: BackupRecordView[] }).records;
};

/** Runs a backup job of the instance to `file` and waits for its end. */
async function backUp(file: string): Promise<string> {
  const started = await box.api.handle({ method: 'POST', path: `/backups/instances/${encodeURIComponent(id)}`, body: { file } });
  assert.equal(started.status, 202);
  return (await box.jobs.settled((started.body as { id: string }).id))!.state;
}

describe("an instance's last backup", () => {
  it('is none before the first backup, then the job\'s: time, ok, the size written', async () => {
    assert.deepEqual(await last(), []);
    const before = Date.now();
    const file = join(box.dir, 'rec.apbk');
    assert.equal(await backUp(file), 'succeeded');
    const [record] = await last();
    assert.equal(record!.instance, id);
    assert.equal(record!.result, 'ok');
    assert.equal(record!.error, null);
    assert.equal(record!.sizeBytes, (await stat(file)).size);
    assert.equal(record!.succeededAt, record!.attemptedAt);
    assert.ok(Date.parse(record!.attemptedAt) >= before - 1000);
  });

  it('says why one failed and keeps the last success', async () => {
    const [ok] = await last();
    assert.equal(await backUp(UNWRITABLE_FILE), 'failed');
    const [record] = await last();
    assert.equal(record!.result, 'failed');
    assert.match(record!.error!, /ap-unwritable/);
    assert.deepEqual([record!.succeededAt, record!.sizeBytes], [ok!.succeededAt, ok!.sizeBytes]);
    assert.ok(record!.attemptedAt >= ok!.attemptedAt);
  });

  it('follows a download to its end, and not one the client cut off', async () => {
    const download = async () => {
      const answer = await box.api.handle({ method: 'GET', path: `/backups/instances/${encodeURIComponent(id)}/download` });
      assert.ok(answer.body instanceof StreamBody);
      return answer.body;
    };
    // Cut off after the first chunk, as the webserver does when the browser goes away.
    const earlier = await last();
    const cut = await download();
    const chunks = cut.chunks[Symbol.asyncIterator]();
    await chunks.next();
    cut.cancel!();
    await chunks.return!(undefined);
    assert.deepEqual(await last(), earlier, 'the cut-off download left the record as it was');

    let bytes = 0;
    for await (const chunk of (await download()).chunks) bytes += chunk.length;
    const [record] = await last();
    assert.deepEqual([record!.result, record!.error, record!.sizeBytes], ['ok', null, bytes]);
  });

  it('outlives a restart, and leaves with its instance', async () => {
    const file = join(box.dir, 'kept.json');
    const first = BackupRecords.persisted(file, assert.fail, () => new Date('2026-11-30T10:00:00Z'));
    first.succeeded('a@example.com', 1700);
    first.succeeded('b@example.com', 1800);
    first.failed('b@example.com', 'answered 500');
    await first.flush();
    const again = BackupRecords.persisted(file, assert.fail);
    assert.deepEqual(again.list(), first.list());
    assert.deepEqual(again.list()[1], { instance: 'b@example.com', attemptedAt: '2026-11-30T10:00:00.000Z', result: 'failed', error: 'answered 500', succeededAt: '2026-11-30T10:00:00.000Z', sizeBytes: 1800 });
    again.keepOnly(['b@example.com']);
    await again.flush();
    assert.deepEqual(BackupRecords.persisted(file, assert.fail).list().map((r) => r.instance), ['b@example.com']);
  });

  it('ends as failed when the supervisor stopped or died during the backup, found at the next start', async () => {
    const file = join(box.dir, 'jobs.json');
    const running = (id: string, target: string) => ({ id, kind: 'backup', target, state: 'running', startedAt: '2026-11-30T10:00:00.000Z', finishedAt: null, progress: { done: 0, total: null, note: '' }, message: 'backing up', output: [] });
    await writeFile(file, JSON.stringify({ version: 1, next: 3, jobs: [running('1', 'cut@example.com'), running('2', 'manager')] }));
    const records = new BackupRecords();
    const alarms = new Alarms();
    new Jobs(undefined, backupFinished(() => alarms, records)).persistTo(file);
    assert.deepEqual(records.list().map((r) => [r.instance, r.result, r.error, r.succeededAt]), [['cut@example.com', 'failed', INTERRUPTED, null]]);
    assert.deepEqual(alarms.active().map((a) => a.source).sort(), ['backup:cut@example.com', 'backup:manager']);
  });

  it('sets a file it cannot read aside and skips a bad entry, saying so', async () => {
    const file = join(box.dir, 'bad.json');
    const reports: string[] = [];
    await writeFile(file, '{"version":1,"records":[{"instance":"a@b.c","attemptedAt":"2026-11-30T10:00:00Z","result":"ok","error":null,"succeededAt":"2026-11-30T10:00:00Z","sizeBytes":12},{"instance":"x"}]}');
    assert.deepEqual(BackupRecords.persisted(file, (m) => void reports.push(m)).list().map((r) => r.instance), ['a@b.c']);
    assert.match(reports.join('\n'), /1 of 2 backup records were not readable/);
    await writeFile(file, 'not json');
    assert.deepEqual(BackupRecords.persisted(file, (m) => void reports.push(m)).list(), []);
    await stat(`${file}.corrupt`);
  });
});
