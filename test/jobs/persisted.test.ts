// The job history in its state file: ids go on after a restart, the newest
// 100 are kept, a job cut off by the supervisor's end is shown as failed.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApError } from '../../src/errors';
import { INTERRUPTED, Jobs, type JobView } from '../../src/jobs';
import type { Logger } from '../../src/log';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-jobs-');
});
after(() => rm(dir, { recursive: true, force: true }));

function logger(lines: string[]): Logger {
  const make = (): Logger => ({ error: (m) => void lines.push(m), warn: () => {}, info: () => {}, debug: () => {}, child: () => make(), close: () => {} });
  return make();
}

/** A new Jobs on `file`, as a restarted supervisor makes it. */
function restart(file: string, lines: string[] = [], finished: JobView[] = []): Jobs {
  const jobs = new Jobs(logger(lines), (job) => void finished.push(job));
  jobs.persistTo(file);
  return jobs;
}

describe('persisted jobs', () => {
  it('continue ids after a restart and show the history with outcomes', async () => {
    const file = join(dir, 'jobs.json');
    const first = restart(file);
    const ok = first.start('backup', 'app@example.com', 'backing up', async (job) => {
      job.line('pg_dump done');
      return 'backed up 1234 bytes';
    });
    const bad = first.start('restore', 'app@example.com', 'restoring', async () => {
      throw new Error('bad checksum');
    });
    await first.settled(ok.id);
    await first.settled(bad.id);
    await first.flush();

    const second = restart(file);
    assert.deepEqual(
      second.list().map((j) => [j.id, j.kind, j.target, j.state, j.message, j.output]),
      [
        ['2', 'restore', 'app@example.com', 'failed', 'bad checksum', []],
        ['1', 'backup', 'app@example.com', 'succeeded', 'backed up 1234 bytes', ['pg_dump done']],
      ],
    );
    assert.equal(second.get('1')!.startedAt, ok.startedAt);
    assert.ok(second.get('1')!.finishedAt);
    assert.equal(second.start('analyse', 'all', 'analysing', async () => 'done').id, '3');
    assert.equal((await second.settled('1'))!.state, 'succeeded');
    await second.flush();
  });

  it('show a job that was running when the supervisor died as failed (interrupted), never running', async () => {
    const file = join(dir, 'interrupted.json');
    const first = restart(file);
    first.start('backup', 'pbx@example.com', 'backing up', () => new Promise<string>(() => {})); // never ends: the process "dies"
    await first.flush();

    const lines: string[] = [];
    const finished: JobView[] = [];
    const second = restart(file, lines, finished);
    const job = second.get('1')!;
    assert.equal(job.state, 'failed');
    assert.equal(job.message, INTERRUPTED);
    assert.ok(job.finishedAt);
    assert.deepEqual(finished.map((j) => [j.id, j.state]), [['1', 'failed']]); // a backup alarm hears it
    assert.match(lines.join('\n'), /job 1 \(backup pbx@example\.com\) FAILED: interrupted by a restart/);
    assert.equal(second.running('backup', 'pbx@example.com'), null);
    await second.flush();
    assert.equal(restart(file).get('1')!.state, 'failed'); // written back
  });

  it('keep the newest 100', async () => {
    const file = join(dir, 'bounded.json');
    const first = restart(file);
    for (let i = 0; i < 130; i++) await first.settled(first.start('analyse', 'all', '', async () => 'ok').id);
    await first.flush();
    const second = restart(file);
    const ids = second.list().map((j) => Number(j.id));
    assert.equal(ids.length, 100);
    assert.deepEqual([ids[0], ids.at(-1)], [130, 31]);
    assert.equal(second.start('analyse', 'all', '', async () => 'ok').id, '131');
    await second.flush();
  });

  it('report a corrupt file or entry and start anyway', async () => {
    const file = join(dir, 'corrupt.json');
    await writeFile(file, 'not json');
    const lines: string[] = [];
    const jobs = restart(file, lines);
    assert.deepEqual(jobs.list(), []);
    assert.match(lines.join('\n'), /corrupt\.json is not valid JSON .*moved aside/);

    const entries = join(dir, 'entries.json');
    const good = { id: '7', kind: 'backup', target: 't', state: 'succeeded', startedAt: '2026-11-29T10:00:00.000Z', finishedAt: '2026-11-29T10:01:00.000Z', progress: { done: 1, total: 1, note: '' }, message: 'ok', output: [] };
    await writeFile(entries, JSON.stringify({ version: 1, next: 8, jobs: [good, { ...good, id: 'x' }, { ...good, id: '9', state: 'lost' }, null] }));
    const more: string[] = [];
    const kept = restart(entries, more);
    assert.deepEqual(kept.list().map((j) => j.id), ['7']);
    assert.match(more.join('\n'), /3 job entries were not readable and left out/);
    assert.equal(kept.start('analyse', 'all', '', async () => 'ok').id, '8');
    await kept.flush();
  });
});

describe('a failed job in the log', () => {
  it('is a warning when what it was given was wrong (a 4xx code), an error when the fault is ours', async () => {
    const levels: string[] = [];
    const make = (): Logger => ({ error: (m) => void levels.push(`error ${m}`), warn: (m) => void levels.push(`warn ${m}`), info: () => {}, debug: () => {}, child: () => make(), close: () => {} });
    const jobs = new Jobs(make());
    const mistake = jobs.start('install', 'pkg', 'installing', async () => {
      throw new ApError('BAD_PACKAGE', 'service.json: no name');
    });
    const ours = jobs.start('backup', 'app@example.com', 'backing up', async () => {
      throw new Error('pg_dump died');
    });
    await jobs.settled(mistake.id);
    await jobs.settled(ours.id);
    assert.deepEqual(levels.map((l) => l.replace(/^(\w+) job \d+ \((\w+).*$/, '$1 $2')).sort(), ['error backup', 'warn install']);
  });
});
