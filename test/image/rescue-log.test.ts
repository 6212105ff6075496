// The rescue system's log as the Manager's page reads it (GET /rescue-log):
// none yet said as such, a short log whole, a long one by its end from a
// line's start. The file itself stays served as is at /manager/ramdisk.log
// (test/webserver).
import assert from 'node:assert/strict';
import { rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Api } from '../../src/api';
import type { BootControl } from '../../src/boot';
import { updateRoutes, type Updater } from '../../src/image';
import { RESCUE_LOG_SHOWN } from '../../src/image/views';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-rescue-log-');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('GET /rescue-log', () => {
  it('says there is none, then answers a short log whole and a long one by its last lines', async () => {
    const file = join(dir, 'ramdisk.log');
    // The route reads only the file.
    const api = new Api(updateRoutes({} as Updater, {} as BootControl, file));
    const get = async () => {
      const answer = await api.handle({ method: 'GET', path: '/rescue-log' });
      assert.equal(answer.status, 200);
      return answer.body as { exists: boolean; bytes: number; modifiedAt: string | null; text: string; truncated: boolean };
    };
    assert.deepEqual(await get(), { exists: false, bytes: 0, modifiedAt: null, text: '', truncated: false });

    await writeFile(file, 'applying image 130015\nfinished\n');
    await utimes(file, new Date('2026-11-30T10:00:00Z'), new Date('2026-11-30T10:00:00Z'));
    assert.deepEqual(await get(), { exists: true, bytes: 31, modifiedAt: '2026-11-30T10:00:00.000Z', text: 'applying image 130015\nfinished\n', truncated: false });

    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'x'.repeat(20)}`);
    await writeFile(file, `${lines.join('\n')}\nfinished\n`);
    const long = await get();
    assert.equal(long.truncated, true);
    assert.ok(long.bytes > RESCUE_LOG_SHOWN);
    assert.ok(long.text.length <= RESCUE_LOG_SHOWN && long.text.length > RESCUE_LOG_SHOWN - 40);
    assert.match(long.text, /^line \d+ x{20}\n/, 'starts at a whole line');
    assert.ok(long.text.endsWith('line 19999 xxxxxxxxxxxxxxxxxxxx\nfinished\n'));
  });
});
