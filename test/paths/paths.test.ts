import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApError } from '../../src/errors';
import { acquireLock, clearScratch, createLayout, ensureReserve, layout } from '../../src/paths';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-paths-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('layout', () => {
  it('places everything as DESIGN.md says', () => {
    const p = layout('/r');
    assert.equal(p.boot, '/r/mnt/sda1');
    assert.equal(p.pgsql, '/r/mnt/sda2/pgsql');
    assert.equal(p.apps, '/r/mnt/sda2/apps');
    assert.equal(p.appLogs, '/r/mnt/sda2/log/apps');
    assert.equal(p.coreDumps, '/r/mnt/sda2/log/core_dumps');
    assert.equal(p.reserve, '/r/mnt/sda2/empty_if_no_space');
    assert.equal(p.ramdiskLog, '/r/mnt/sda2/ramdisk.log');
    assert.equal(p.standbyConf, '/r/home/root/standby.conf');
  });

  it('createLayout makes the folders and is idempotent', async () => {
    const p = layout(join(dir, 'layout'));
    await createLayout(p);
    await createLayout(p);
    for (const folder of [p.boot, p.apps, p.appLogs, p.coreDumps, p.home, p.run]) assert.ok((await stat(folder)).isDirectory(), folder);
  });

  it('clearScratch removes what a cut-off upload, store install or install from the database left on p2, and nothing else', async () => {
    const p = layout(join(dir, 'scratch'));
    await createLayout(p);
    await writeFile(join(p.data, 'upload-0a1b2c.apbk.part'), 'half a backup');
    await mkdir(join(p.data, 'upload-service-0a1b2c/app'), { recursive: true });
    await mkdir(join(p.data, 'store-echo-0a1b2c3d'));
    await writeFile(join(p.data, 'store-echo-0a1b2c3d/service.js'), 'half a package');
    await mkdir(join(p.data, 'package-echo-0a1b2c3d'));
    await writeFile(join(p.data, 'ramdisk.log'), 'kept');
    await writeFile(join(p.data, 'uploaded.txt'), 'kept');
    assert.deepEqual((await clearScratch(p)).sort(), ['package-echo-0a1b2c3d', 'store-echo-0a1b2c3d', 'upload-0a1b2c.apbk.part', 'upload-service-0a1b2c']);
    assert.deepEqual((await readdir(p.data)).sort(), ['apps', 'log', 'ramdisk.log', 'uploaded.txt']);
    assert.deepEqual(await clearScratch(p), []);
  });
});

describe('acquireLock', () => {
  it('refuses a second holder with ALREADY_RUNNING, and lets go on release', async () => {
    const p = layout(join(dir, 'lock1'));
    // The holder must look like a supervisor: a live process with "serve" in its command line.
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'serve'], { stdio: 'ignore' });
    try {
      await mkdir(p.run, { recursive: true });
      await writeFile(p.lock, `${holder.pid}\n`);
      await assert.rejects(acquireLock(p), (err: unknown) => err instanceof ApError && err.code === 'ALREADY_RUNNING' && err.message.includes(String(holder.pid)));
      assert.equal(await readFile(p.lock, 'utf8'), `${holder.pid}\n`, 'the holder keeps its lock');
      assert.deepEqual((await readdir(p.run)).sort(), ['ap.pid'], 'no temporary file left behind');
    } finally {
      holder.kill();
    }
  });

  it('takes over a lock whose process is gone or is not a supervisor', async () => {
    for (const [name, pid] of [['dead', 2 ** 22 + 1], ['not-a-supervisor', process.ppid]] as const) {
      const p = layout(join(dir, `lock-${name}`));
      await mkdir(p.run, { recursive: true });
      await writeFile(p.lock, `${pid}\n`);
      const lock = await acquireLock(p);
      assert.equal(await readFile(p.lock, 'utf8'), `${process.pid}\n`);
      await lock.release();
      await assert.rejects(stat(p.lock), { code: 'ENOENT' });
    }
  });

  it('release leaves a lock that is no longer ours alone', async () => {
    const p = layout(join(dir, 'lock-stolen'));
    const lock = await acquireLock(p);
    await writeFile(p.lock, '1\n');
    await lock.release();
    assert.equal(await readFile(p.lock, 'utf8'), '1\n');
  });
});

describe('ensureReserve', () => {
  it('creates a real (not sparse) file of the configured size, once', async () => {
    const p = layout(join(dir, 'reserve'));
    await createLayout(p);
    assert.equal(await ensureReserve(p, 3 * 1024 * 1024 + 5), 'created');
    const info = await stat(p.reserve);
    assert.equal(info.size, 3 * 1024 * 1024 + 5);
    assert.ok(info.blocks * 512 >= info.size, 'blocks are allocated');
    assert.equal(await ensureReserve(p, 1024), 'present');
    assert.equal((await stat(p.reserve)).size, 3 * 1024 * 1024 + 5);
  });

  it('leaves a file a technician emptied alone, and does nothing when disabled', async () => {
    const p = layout(join(dir, 'reserve-emptied'));
    await createLayout(p);
    await writeFile(p.reserve, '\n');
    assert.equal(await ensureReserve(p, 1024 * 1024), 'present');
    assert.equal((await stat(p.reserve)).size, 1);
    const q = layout(join(dir, 'reserve-off'));
    await createLayout(q);
    assert.equal(await ensureReserve(q, 0), 'disabled');
    await assert.rejects(stat(q.reserve), { code: 'ENOENT' });
  });

  it('skips the file when the partition lacks room for it and headroom', async () => {
    const p = layout(join(dir, 'reserve-full'));
    await createLayout(p);
    const { statfs } = await import('node:fs/promises');
    const fs = await statfs(p.data);
    assert.equal(await ensureReserve(p, fs.bavail * fs.bsize), 'no-space');
    await assert.rejects(stat(p.reserve), { code: 'ENOENT' });
  });
});
