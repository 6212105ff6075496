// Alarms kept in their state file: what a restart (a new Alarms on the same
// file) shows, and what a corrupt file does (reported, never fatal).
import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Alarms } from '../../src/alarms';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-alarms-');
});
after(() => rm(dir, { recursive: true, force: true }));

const restart = (file: string, reports: string[] = []) => Alarms.persisted(file, (m) => void reports.push(m));

describe('persisted alarms', () => {
  it('keep active alarms with their time and text across a restart, and a cleared one stays cleared', async () => {
    const file = join(dir, 'kept.json');
    let clock = new Date('2026-11-29T10:00:00Z');
    const first = Alarms.persisted(file, assert.fail, () => clock);
    first.raise('backup:app@example.com', 'BACKUP_FAILED', 'major', 'the backup of app@example.com failed: 500');
    first.raise('disk', 'DISK_WARNING', 'major', 'at 87 %');
    clock = new Date('2026-11-29T11:00:00Z');
    first.clear('disk', 'DISK_WARNING');
    await first.flush();

    const second = restart(file);
    assert.deepEqual(
      second.active().map((a) => [a.id, a.source, a.code, a.severity, a.text, a.raisedAt, a.clearedAt]),
      [[1, 'backup:app@example.com', 'BACKUP_FAILED', 'major', 'the backup of app@example.com failed: 500', '2026-11-29T10:00:00.000Z', null]],
    );
    assert.deepEqual(second.history().map((a) => [a.id, a.code, a.clearedAt]), [[2, 'DISK_WARNING', '2026-11-29T11:00:00.000Z']]);
    // Ids go on; a raise of a kept alarm is an update, not a second alarm.
    const heard: string[] = [];
    second.onEvent((e) => heard.push(e.type));
    second.raise('backup:app@example.com', 'BACKUP_FAILED', 'major', 'the backup of app@example.com failed: 500');
    assert.deepEqual(heard, []);
    assert.equal(second.raise('tls', 'CERT_EXPIRING', 'warning', 'soon').id, 3);
    second.clear('backup:app@example.com', 'BACKUP_FAILED');
    await second.flush();

    const third = restart(file);
    assert.deepEqual(third.active().map((a) => a.code), ['CERT_EXPIRING']);
    assert.deepEqual(third.history().map((a) => a.code), ['BACKUP_FAILED', 'DISK_WARNING']);
  });

  it('start empty from a corrupt file, report it and keep it aside', async () => {
    const sub = join(dir, 'corrupt');
    await import('node:fs/promises').then((fs) => fs.mkdir(sub));
    const file = join(sub, 'alarms.json');
    await writeFile(file, '{"version":1,"active":[{"id":');
    const reports: string[] = [];
    const alarms = restart(file, reports);
    assert.deepEqual(alarms.active(), []);
    assert.match(reports.join('\n'), /alarms\.json is not valid JSON .*moved aside to .*alarms\.json\.corrupt/);
    assert.equal(await readFile(`${file}.corrupt`, 'utf8'), '{"version":1,"active":[{"id":');
    alarms.raise('disk', 'DISK_FULL', 'critical', 'full');
    await alarms.flush();
    assert.deepEqual((await readdir(sub)).sort(), ['alarms.json', 'alarms.json.corrupt']);
    assert.deepEqual(restart(file).active().map((a) => a.code), ['DISK_FULL']);
  });

  it('skip entries that are not alarms and keep the rest', async () => {
    const file = join(dir, 'entries.json');
    const good = { id: 4, source: 'update', code: 'UPDATE_FAILED', severity: 'major', text: 'no', raisedAt: '2026-11-29T10:00:00.000Z', clearedAt: null };
    await writeFile(file, JSON.stringify({ version: 1, next: 9, active: [good, { ...good, id: 5, severity: 'loud' }, 'x', { ...good, source: 'b', raisedAt: 'yesterday' }], cleared: [{ ...good, id: 6 }] }));
    const reports: string[] = [];
    const alarms = restart(file, reports);
    assert.deepEqual(alarms.active().map((a) => a.id), [4]);
    assert.deepEqual(alarms.history(), []); // a "cleared" alarm without clearedAt
    assert.match(reports.join('\n'), /4 alarm entries were not readable and left out/);
    assert.equal(alarms.raise('x', 'Y', 'minor', 't').id, 9);
    await alarms.flush();
  });

  it('refuse a file of another shape without stopping', async () => {
    const file = join(dir, 'shape.json');
    await writeFile(file, '[1,2,3]');
    const reports: string[] = [];
    assert.deepEqual(restart(file, reports).active(), []);
    assert.match(reports.join('\n'), /is not an alarm file this supervisor knows/);
  });

  it('keep an acknowledgement across a restart; a raise to a worse severity takes it back, a milder one does not', async () => {
    const file = join(dir, 'acknowledged.json');
    let clock = new Date('2026-12-01T10:00:00Z');
    const first = Alarms.persisted(file, assert.fail, () => clock);
    const disk = first.raise('disk', 'DISK_WARNING', 'minor', 'at 85 %');
    first.raise('tls', 'CERT_EXPIRING', 'major', 'in 6 days');
    const heard: string[] = [];
    first.onEvent((e) => heard.push(e.type));
    clock = new Date('2026-12-01T10:05:00Z');
    assert.equal(first.acknowledge(disk.id)?.acknowledgedAt, '2026-12-01T10:05:00.000Z');
    assert.equal(first.acknowledge(disk.id)?.acknowledgedAt, '2026-12-01T10:05:00.000Z'); // once is enough
    assert.equal(first.acknowledge(999), null);
    assert.deepEqual(heard, []); // nothing new happened: no mail, no event
    const tls = first.active().find((a) => a.code === 'CERT_EXPIRING')!;
    first.acknowledge(tls.id);
    first.raise('tls', 'CERT_EXPIRING', 'minor', 'in 6 days (renewal under way)');
    await first.flush();

    const second = restart(file);
    assert.deepEqual(
      second.active().map((a) => [a.code, a.acknowledgedAt ?? null]),
      [['DISK_WARNING', '2026-12-01T10:05:00.000Z'], ['CERT_EXPIRING', '2026-12-01T10:05:00.000Z']],
    );
    second.raise('disk', 'DISK_WARNING', 'major', 'at 92 %');
    assert.equal(second.active().find((a) => a.code === 'DISK_WARNING')!.acknowledgedAt, undefined);
    second.clear('tls', 'CERT_EXPIRING');
    assert.equal(second.acknowledge(tls.id), null); // cleared: nothing to acknowledge
    await second.flush();
  });
});
