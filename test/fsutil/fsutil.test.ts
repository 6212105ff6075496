import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFileAtomic } from '../../src/fsutil';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-fsutil-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('writeFileAtomic', () => {
  it('replaces the file whole, with the given mode, and leaves no temporary file', async () => {
    const path = join(dir, 'settings');
    await writeFile(path, 'old');
    await writeFileAtomic(path, 'new contents', 0o600);
    assert.equal(await readFile(path, 'utf8'), 'new contents');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['settings']);
  });

  it('keeps the old file and removes its temporary file when the rename fails', async () => {
    const path = join(dir, 'target');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(path, 'child'), { recursive: true }));
    await assert.rejects(writeFileAtomic(path, 'data'));
    assert.ok((await stat(join(path, 'child'))).isDirectory());
  });
});
