// The rescue script on real partitions (loop devices over image files), with
// the test as the bootloader: install per board, the update cycle with the
// supervisor's staging, power cuts at every journal step, rollback after three
// failed boots, resize.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bootControl } from '../../src/boot';
import { getBoard } from '../../src/config';
import { requestFsck } from '../../src/ctl/update';
import { Updater } from '../../src/image';
import { generateKeyPair } from '../../src/image/sign';
import { Jobs } from '../../src/jobs';
import { createLogger } from '../../src/log';
import { buildTestImage, publishImage, startImageStore, type ImageStore } from '../../tools/image/lib';
import { BOOTCHECK, SCRIPT, blankDisk, loopUnavailable, mountSystem, type Disk } from '../harness/disk';
import { until } from '../harness/http';
import { workspace } from '../harness/workspace';

const unavailable = loopUnavailable();
// The gateways' p1 is FAT32; a kernel without vfat (some VM kernels have none, and no modules) cannot mount it.
const noVfat = unavailable ?? (readFileSync('/proc/filesystems', 'utf8').includes('vfat') ? null : 'this kernel cannot mount vfat (no vfat in /proc/filesystems), which the gateway boards\' p1 is');
const log = createLogger({ level: 'error', file: null });
let dir: string;
let store: ImageStore;
let keys: string;
const disks: Disk[] = [];

before(async () => {
  if (unavailable) return;
  dir = await workspace('ap-rescue-');
  const pair = await generateKeyPair();
  keys = join(dir, 'keys');
  await mkdir(keys);
  await writeFile(join(keys, 'release.pub'), pair.publicKey);
  const root = join(dir, 'store');
  for (const board of ['x86_64', 'ipx10']) {
    for (const label of ['130012', '130015']) {
      await publishImage(root, await buildTestImage({ board, label, out: join(dir, 'build', board, label), key: pair.secretKey }), board, label, label === '130015');
    }
  }
  store = await startImageStore(root);
});

after(async () => {
  if (unavailable) return;
  for (const d of disks) d.detach();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The supervisor's part of an update, on the disk's mounted p1. */
async function stage(disk: Disk, label: string): Promise<Updater> {
  mountSystem(disk);
  const board = getBoard(disk.board as never);
  const jobs = new Jobs();
  const updater = new Updater({ bootDir: disk.p1, board, boot: bootControl(board, disk.p1), jobs, log, storeUrl: async () => store.url, keysDir: keys, reboot: async () => {} });
  const job = (await jobs.settled(updater.startUpdate({ label, force: true }).id))!;
  assert.equal(job.state, 'succeeded', job.message);
  return updater;
}

const bootMode = (disk: Disk) => bootControl(getBoard(disk.board as never), disk.p1).read().then((b) => b.mode);

/** A blank disk, installed, with image 130012 applied and confirmed: a running box. */
async function runningBox(name: string, board: string, options: { p1Fs?: 'ext2' } = {}): Promise<Disk> {
  const disk = await blankDisk(join(dir, name), board, 2048, options);
  disks.push(disk);
  assert.equal(disk.run('install').status, 0);
  const updater = await stage(disk, '130012');
  const applied = disk.run('auto');
  assert.equal(applied.status, 0, applied.out);
  assert.equal((await updater.afterBoot()).outcome, 'confirmed');
  await writeFile(join(disk.p2, 'precious'), 'data that must survive\n');
  return disk;
}

describe('rescue script', { skip: unavailable ?? false }, () => {
  for (const board of ['x86_64', 'ipx10', 'ipx13'] as const) {
    it(`install: partitions a blank 2 GB disk as ${board} says`, { skip: board === 'x86_64' ? false : (noVfat ?? false) }, async () => {
      const disk = await blankDisk(join(dir, `install-${board}`), board);
      disks.push(disk);
      const result = disk.run('install');
      assert.equal(result.status, 0, result.out);
      const table = execFileSync('sfdisk', ['-d', disk.device], { encoding: 'utf8' });
      const parts = [...table.matchAll(/p(\d) : start=\s*(\d+), size=\s*(\d+), type=(\w+)/g)].map((m) => ({ n: Number(m[1]), start: Number(m[2]), mb: Number(m[3]) / 2048, type: m[4] }));
      const b = getBoard(board);
      const p1mb = b.partitions[0]!.sizeMB!;
      assert.deepEqual(
        parts.map((p) => [p.n, p.type]),
        [
          [1, b.partitions[0]!.fs === 'vfat' ? 'c' : '83'],
          [2, '83'],
          [3, '83'],
          [4, '82'],
        ],
      );
      assert.deepEqual([parts[0]!.mb, parts[2]!.mb, parts[3]!.mb], [p1mb, 500, 512]);
      assert.equal(parts[0]!.start, 2048);
      assert.ok(parts[1]!.mb > 600, 'p2 takes the rest');
      const types = [1, 2, 3, 4].map((n) => execFileSync('blkid', ['-o', 'value', '-s', 'TYPE', `${disk.device}p${n}`], { encoding: 'utf8' }).trim());
      assert.deepEqual(types, [b.partitions[0]!.fs === 'vfat' ? 'vfat' : 'ext2', 'ext4', 'ext4', 'swap']);
      assert.equal(await bootMode(disk), 'rescue');
      assert.match(await readFile(join(disk.p2, 'apps/install_step1.log'), 'utf8'), /finished\n$/);
      // Run again (a cut install, or a technician's second try): nothing is lost or redone wrongly.
      await writeFile(join(disk.p2, 'kept'), 'x');
      assert.equal(disk.run('install').status, 0);
      assert.equal(await readFile(join(disk.p2, 'kept'), 'utf8'), 'x');
      disk.detach();
    });
  }

  it('layout: the table install writes for each board (gateways: FAT32 p1 of 200 MB)', async () => {
    for (const board of ['ipx10', 'ipx11', 'ipx13', 'x86_64'] as const) {
      const disk = await blankDisk(join(dir, `layout-${board}`), board);
      disks.push(disk);
      const { status, out } = disk.run('layout');
      assert.equal(status, 0, out);
      const parts = [...out.matchAll(/start=(\d+), size=(\d+), type=(\w+)/g)].map((m) => [Number(m[2]) / 2048, m[3]]);
      const b = getBoard(board);
      assert.deepEqual(parts.map((p) => p[1]), [b.partitions[0]!.fs === 'vfat' ? 'c' : '83', '83', '83', '82'], board);
      assert.deepEqual([parts[0]![0], parts[2]![0], parts[3]![0]], [b.partitions[0]!.sizeMB, 500, 512], board);
      assert.notEqual(spawnSync('sfdisk', ['-d', disk.device]).status, 0, 'nothing was written: the disk has no table');
      disk.detach();
    }
  });

  for (const board of ['x86_64', 'ipx10'] as const) {
    // Where the kernel has no vfat, the gateway board runs with p1 as ext2: its boot control and layout are still the gateway's.
    const p1Fs = board !== 'x86_64' && noVfat ? ('ext2' as const) : undefined;
    it(`update: ${board} goes from 130012 to 130015, keeping the old image and p2${p1Fs ? ' (p1 as ext2: no vfat here)' : ''}`, async () => {
      const disk = await runningBox(`update-${board}`, board, { p1Fs });
      assert.equal(disk.p3File('/etc/ap-image-label'), '130012\n');
      const updater = await stage(disk, '130015');
      assert.equal(await bootMode(disk), 'rescue');
      const result = disk.run('auto');
      assert.equal(result.status, 0, result.out);
      assert.equal(disk.p3File('/etc/ap-image-label'), '130015\n');
      assert.equal(await bootMode(disk), 'normal');
      assert.match(await readFile(join(disk.p2, 'ramdisk.log'), 'utf8'), /applying image 130015/);
      assert.equal((await readFile(join(disk.p1, 'prev/label'), 'utf8')).trim(), '130012');
      assert.equal((await updater.afterBoot()).outcome, 'confirmed');
      assert.equal((await readFile(join(disk.p1, 'label'), 'utf8')).trim(), '130015');
      assert.equal(await readFile(join(disk.p2, 'precious'), 'utf8'), 'data that must survive\n');
      disk.detach();
    });
  }

  it('power cut at every journal step: running the rescue again ends with a bootable box and p2 intact', async () => {
    const steps = ['apply', 'rootfs', 'fsck', 'kernel', 'normal', 'finished'];
    const disk = await runningBox('cuts', 'x86_64');
    for (const step of steps) {
      await stage(disk, step === 'apply' ? '130015' : '130015');
      const cut = disk.run('auto', { AP_TEST_CUT: step });
      assert.notEqual(cut.status, 0, `the cut at ${step} happened`);
      const mode = await bootMode(disk);
      if (mode === 'rescue') {
        // The bootloader boots the rescue again, which finishes.
        const again = disk.run('auto');
        assert.equal(again.status, 0, `${step}: ${again.out}`);
      }
      assert.equal(await bootMode(disk), 'normal', step);
      assert.equal(disk.p3File('/etc/ap-image-label'), '130015\n', step);
      const updater = new Updater({ bootDir: disk.p1, board: getBoard('x86_64'), boot: bootControl(getBoard('x86_64'), disk.p1), jobs: new Jobs(), log, storeUrl: async () => store.url, keysDir: keys, reboot: async () => {} });
      assert.equal((await updater.afterBoot()).outcome, 'confirmed', step);
      assert.equal(await readFile(join(disk.p2, 'precious'), 'utf8'), 'data that must survive\n', step);
    }
    disk.detach();
  });

  it('a staged image that does not match its checksums is not applied, and the box boots the old one', async () => {
    const disk = await runningBox('damaged', 'x86_64');
    await stage(disk, '130015');
    const rootfs = join(disk.p1, 'update/rootfs.img');
    const bytes = await readFile(rootfs);
    bytes[5000] = bytes[5000]! ^ 0xff;
    await writeFile(rootfs, bytes);
    // The rescue's own run reboots by itself into the image that runs (a technician is not needed).
    const marker = join(disk.dir, 'rebooted');
    const result = disk.run('auto', { AP_NO_REBOOT: '', AP_REBOOT: `touch ${marker}` });
    assert.notEqual(result.status, 0);
    assert.match(result.out, /staged files do not match their checksums/);
    assert.ok(existsSync(marker), `the rescue rebooted:\n${result.out}`);
    mountSystem(disk); // the reboot unmounted p1 and p2, as before a real one
    assert.equal(await bootMode(disk), 'normal');
    assert.equal(disk.p3File('/etc/ap-image-label'), '130012\n');
    // The running image reports it as what it was: nothing changed, stage it again.
    const reports: string[] = [];
    const updater = new Updater({ bootDir: disk.p1, board: getBoard('x86_64'), boot: bootControl(getBoard('x86_64'), disk.p1), jobs: new Jobs(), log, storeUrl: async () => store.url, keysDir: keys, reboot: async () => {}, report: (r) => void reports.push(r.text) });
    assert.equal((await updater.afterBoot()).outcome, 'rolledback');
    assert.match(reports[0]!, /staged files were damaged .* changed nothing; start the update again/);
    disk.detach();
  });

  it('three failed boots roll back to the previous image; one cut first boot does not', async () => {
    const disk = await runningBox('rollback', 'x86_64');
    await stage(disk, '130015');
    assert.equal(disk.run('auto').status, 0);
    const bootcheck = () =>
      spawnSync('busybox', ['sh', BOOTCHECK, 'start'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, MNT_P1: disk.p1, AP_INSTALL_STEP1: join(process.cwd(), 'rootfs-scripts/install_step1.sh'), AP_BOARD_ENV: disk.env, MNT_P2: disk.p2, AP_NO_REBOOT: '1', AP_NO_WATCH: '1' },
      });
    // First boot of the new image, cut by a power loss before the supervisor was READY: one attempt.
    assert.match(bootcheck().stdout, /boot 1 of image 130015/);
    assert.equal(await bootMode(disk), 'normal');
    assert.match(bootcheck().stdout, /boot 2 of image 130015/);
    assert.match(bootcheck().stdout, /boot 3 of image 130015/);
    assert.equal(await bootMode(disk), 'normal');
    const fourth = bootcheck();
    assert.match(fourth.stdout, /did not come up in 3 boots/);
    assert.equal(await bootMode(disk), 'rescue');
    // The rescue restores the previous image and boots it; the supervisor reports the failure.
    const rescue = disk.run('auto');
    assert.equal(rescue.status, 0, rescue.out);
    assert.equal(disk.p3File('/etc/ap-image-label'), '130012\n');
    assert.equal(await bootMode(disk), 'normal');
    const reports: string[] = [];
    const updater = new Updater({ bootDir: disk.p1, board: getBoard('x86_64'), boot: bootControl(getBoard('x86_64'), disk.p1), jobs: new Jobs(), log, storeUrl: async () => store.url, keysDir: keys, reboot: async () => {}, report: (r) => void reports.push(r.text) });
    assert.equal((await updater.afterBoot()).outcome, 'rolledback');
    assert.match(reports[0]!, /did not come up three times/);
    assert.equal((await readFile(join(disk.p1, 'label'), 'utf8')).trim(), '130012');
    disk.detach();
  });

  it('a first boot that is not confirmed in time is ended by a reboot; a confirmed one is not', async () => {
    const disk = await runningBox('watch', 'x86_64');
    await stage(disk, '130015');
    assert.equal(disk.run('auto').status, 0);
    await writeFile(join(disk.p1, 'bootcheck.conf'), 'CONFIRM_WAIT=1\n');
    const marker = join(disk.dir, 'rebooted');
    const bootcheck = () =>
      spawnSync('busybox', ['sh', BOOTCHECK, 'start'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, MNT_P1: disk.p1, AP_INSTALL_STEP1: SCRIPT, AP_BOARD_ENV: disk.env, AP_NO_REBOOT: '1', AP_WATCH_REBOOT: `touch ${marker}` },
      });
    assert.match(bootcheck().stdout, /boot 1 of image 130015/);
    await until('the watchdog to reboot', async () => (existsSync(marker) ? true : undefined), 10_000);
    await rm(marker);
    // Confirmed by the supervisor within the wait: the watchdog leaves the box alone.
    assert.match(bootcheck().stdout, /boot 2 of image 130015/);
    await writeFile(join(disk.p1, 'update/journal'), `${await readFile(join(disk.p1, 'update/journal'), 'utf8')}confirmed 130015\n`);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(existsSync(marker), false);
    disk.detach();
  });

  it('fsck: asked for from the normal system, done by the rescue, which then boots normally', async () => {
    const disk = await runningBox('fsck', 'x86_64');
    const asked = await requestFsck(getBoard('x86_64'), disk.p1);
    assert.equal(asked.boot, 'rescue');
    const result = disk.run('auto');
    assert.equal(result.status, 0, result.out);
    assert.match(result.out, /checking .*p2 \(e2fsck -p -f\)[\s\S]*checking .*p3 \(e2fsck -p -f\)/);
    assert.equal(await bootMode(disk), 'normal');
    assert.equal(existsSync(join(disk.p1, 'update/fsck-request')), false);
    assert.equal(await readFile(join(disk.p2, 'precious'), 'utf8'), 'data that must survive\n');
    disk.detach();
  });

  it('resize: after the disk grew, p2 grows with its data, p3 and p4 move to the end', async () => {
    const disk = await runningBox('resize', 'x86_64');
    const before = execFileSync('sfdisk', ['-d', disk.device], { encoding: 'utf8' });
    disk.unmount();
    execFileSync('truncate', ['-s', '3072M', disk.file]);
    execFileSync('losetup', ['-c', disk.device]);
    const result = disk.run('resize');
    assert.equal(result.status, 0, result.out);
    const after = execFileSync('sfdisk', ['-d', disk.device], { encoding: 'utf8' });
    const size = (table: string, n: number) => Number(new RegExp(`p${n} : start=\\s*\\d+, size=\\s*(\\d+)`).exec(table)![1]) / 2048;
    assert.equal(size(after, 2) - size(before, 2), 1024);
    assert.deepEqual([size(after, 3), size(after, 4)], [500, 512]);
    assert.equal(disk.p3File('/etc/ap-image-label'), '130012\n');
    mountSystem(disk);
    assert.equal(await readFile(join(disk.p2, 'precious'), 'utf8'), 'data that must survive\n');
    const df = execFileSync('df', ['-BM', '--output=size', disk.p2], { encoding: 'utf8' });
    assert.ok(Number(/\n\s*(\d+)M/.exec(df)![1]) > 1500, df);
    assert.equal(await bootMode(disk), 'normal');
    disk.detach();
  });
});
