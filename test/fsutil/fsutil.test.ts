import assert from 'node:assert/strict';
import { chmod, lstat, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFileAtomic, writeStreamAtomic } from '../../src/fsutil';

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

describe('writeStreamAtomic', () => {
  async function* chunks(n: number): AsyncGenerator<Buffer> {
    for (let i = 0; i < n; i++) yield Buffer.alloc(1000, i);
  }

  it('writes the whole stream under its name, owner-only, telling the running total, and leaves no part file', async () => {
    const path = join(dir, 'stream.dump');
    const totals: number[] = [];
    assert.equal(await writeStreamAtomic(chunks(3), path, { onBytes: (n) => totals.push(n) }), 3000);
    assert.deepEqual(totals, [1000, 2000, 3000]);
    assert.equal((await readFile(path)).length, 3000);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('stream.dump')), ['stream.dump']);
  });

  it('leaves nothing under the name, and no part file, when the stream is stopped half-way', async () => {
    const path = join(dir, 'stopped.dump');
    await assert.rejects(
      writeStreamAtomic(chunks(5), path, {
        onBytes: (n) => {
          if (n > 2000) throw new Error('too large');
        },
      }),
      /too large/,
    );
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('stopped.dump')), []);
  });

  it('writes through no symlink or file left at <path>.part: another file is never overwritten, the result is owner-only', async () => {
    // Root writes backups and decrypted backups into folders others can write
    // (ap ctl backup decrypt in /tmp): a planted <out>.part must not redirect them.
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'precious');
    await chmod(victim, 0o644);
    const path = join(dir, 'planted.dump');
    await symlink(victim, `${path}.part`);
    assert.equal(await writeStreamAtomic(chunks(2), path), 2000);
    assert.equal(await readFile(victim, 'utf8'), 'precious');
    assert.ok((await lstat(path)).isFile(), 'the output is a file of its own, not the link');
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    // A stale part file (a power cut) of another mode is replaced, not reused with its mode.
    const stale = join(dir, 'stale.dump');
    await writeFile(`${stale}.part`, 'old');
    await chmod(`${stale}.part`, 0o666);
    await writeStreamAtomic(chunks(1), stale);
    assert.equal((await stat(stale)).mode & 0o777, 0o600);
  });
});
