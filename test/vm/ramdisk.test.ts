// The rescue ramdisk (tools/image/ramdisk.mjs) booted in QEMU with Debian's
// kernel on a blank raw disk: it comes up, installs the x86_64 board's layout
// the way install_step1.sh does, logs to p2/ramdisk.log and powers off; booted
// again on the installed disk it takes the rescue path (auto) and installs
// nothing; a technician logs in on its console; an update the supervisor staged
// (the 8 MB stand-in image of tools/image/lib: a real rootfs comes from
// tools/image/rootfs.mjs) is applied at a rescue boot. The disk file is read
// afterwards through a loop device. Nothing here boots the installed system.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bootControl } from '../../src/boot';
import { getBoard } from '../../src/config';
import { Updater } from '../../src/image';
import { generateKeyPair } from '../../src/image/sign';
import { Jobs } from '../../src/jobs';
import { createLogger } from '../../src/log';
import { buildTestImage, publishImage, startImageStore } from '../../tools/image/lib';
import { REPO } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { accelWhy, attach, boot, probeAccel, ramdisk, vmUnavailable, withMounted, type Built } from './qemu';

const unavailable = vmUnavailable();
const DISK_MB = 2048;
const MB = 2048; // sectors
// Generous: TCG on two shared cores takes about 40 s for the install.
const BOOT_LIMIT_MS = 300_000;

let dir: string;
let built: Built;
let disk: string;

before(async () => {
  if (unavailable) return;
  dir = await workspace('ap-vm-');
  built = await ramdisk();
  await probeAccel(built.kernel);
  console.log(`vm: ramdisk ${(built.ramdiskBytes / 1048576).toFixed(1)} MiB, kernel ${built.kernelVersion}, ${built.cached ? 'from the cache' : `built in ${built.seconds.toFixed(1)} s`}; booting with ${accelWhy()}`);
  disk = join(dir, 'disk.img');
  execFileSync('truncate', ['-s', `${DISK_MB}M`, disk]);
}, { timeout: 900_000 });

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** sfdisk's dump of the disk file, the label-id and device names left out. */
function table(file: string): string {
  return execFileSync('sfdisk', ['-d', file], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('start='))
    .map((l) => l.replace(/^\S+\s*:\s*/, ''))
    .join('\n');
}

describe('rescue ramdisk in QEMU', { skip: unavailable ?? false }, () => {
  it('partitions and formats a blank disk as install_step1.sh does for x86_64, logs to p2/ramdisk.log, and powers off', { timeout: BOOT_LIMIT_MS + 60_000 }, async () => {
    // No ap.mode: a blank disk is what makes the rescue install.
    const run = await boot(built, disk, 'ap.after=poweroff', BOOT_LIMIT_MS);
    console.log(`vm: install boot took ${run.seconds.toFixed(0)} s`);
    assert.ok(run.poweredOff, `QEMU did not power off within ${BOOT_LIMIT_MS / 1000} s:\n${run.console.slice(-3000)}`);
    assert.match(run.console, /ramdisk: rescue system up/);
    assert.match(run.console, /ramdisk: board x86_64, disk \/dev\/sda \(2048 MiB\), mode install/);
    assert.match(run.console, /ramdisk: install_step1.sh install: status 0/, run.console.slice(-3000));

    // The board's layout: p1 at 1 MiB, p3 and p4 at the end with a MiB free, p2 the rest.
    const parts = getBoard('x86_64').partitions;
    const size = (n: number) => parts.find((p) => p.number === n)!.sizeMB! * MB;
    const end = DISK_MB * MB - MB;
    const p4 = end - size(4);
    const p3 = p4 - size(3);
    const p2 = MB + size(1);
    assert.equal(
      table(disk),
      [
        `start=        ${MB}, size=      ${size(1)}, type=83, bootable`,
        `start=      ${p2}, size=     ${p3 - p2}, type=83`,
        `start=     ${p3}, size=     ${size(3)}, type=83`,
        `start=     ${p4}, size=     ${size(4)}, type=82`,
      ].join('\n'),
    );

    const attached = attach(disk);
    try {
      const type = (n: number) => execFileSync('blkid', ['-o', 'value', '-s', 'TYPE', attached.part(n)], { encoding: 'utf8' }).trim();
      assert.deepEqual([1, 2, 3, 4].map(type), ['ext2', 'ext4', 'ext4', 'swap']);
      // Each filesystem clean, as the rescue left it when it powered off.
      for (const n of [1, 2, 3]) {
        const fsck = spawnSync('e2fsck', ['-n', '-f', attached.part(n)], { encoding: 'utf8' });
        assert.equal(fsck.status, 0, `p${n}: ${fsck.stdout}${fsck.stderr}`);
      }
      withMounted(attached, 2, join(dir, 'p2'), () => {
        const log = readFileSync(join(dir, 'p2/ramdisk.log'), 'utf8');
        assert.match(log, /installing the x86_64 layout on \/dev\/sda/);
        assert.match(log, /install done/);
        assert.match(log, /ramdisk: install_step1.sh install: status 0/);
        assert.equal(readFileSync(join(dir, 'p2/apps/install_step1.log'), 'utf8').trim().split('\n').pop(), 'finished');
      });
      withMounted(attached, 1, join(dir, 'p1'), () => {
        // Nothing on p3 yet: the rescue entry stays the default until the first image comes.
        assert.match(readFileSync(join(dir, 'p1/grub/grub.cfg'), 'utf8'), /^set default=0$/m);
        assert.ok(existsSync(join(dir, 'p1/update')));
      });
    } finally {
      attached.detach();
    }
  });

  it('boots an installed disk into the rescue flow (auto), which changes no partition', { timeout: BOOT_LIMIT_MS + 60_000 }, async () => {
    const before = table(disk);
    // The command line of grub's rescue/setup entry (src/boot, install_step1.sh's set_boot).
    const run = await boot(built, disk, 'root=/dev/ram0 ramdisk_size=100000 ap.after=poweroff', BOOT_LIMIT_MS);
    console.log(`vm: rescue boot took ${run.seconds.toFixed(0)} s`);
    assert.ok(run.poweredOff, `QEMU did not power off within ${BOOT_LIMIT_MS / 1000} s:\n${run.console.slice(-3000)}`);
    assert.match(run.console, /mode auto/);
    assert.match(run.console, /nothing to apply: rescue system for the technician/);
    assert.doesNotMatch(run.console, /installing the x86_64 layout/);
    assert.equal(table(disk), before);
    const attached = attach(disk);
    try {
      withMounted(attached, 2, join(dir, 'p2'), () => {
        const log = readFileSync(join(dir, 'p2/ramdisk.log'), 'utf8');
        assert.match(log, /ramdisk: board x86_64, disk \/dev\/sda \(2048 MiB\), mode auto/);
        assert.match(log, /ramdisk: install_step1.sh auto: status 0/);
        assert.equal(log.match(/install done/g)?.length, 1);
      });
    } finally {
      attached.detach();
    }
  });

  it('lets a technician log in on the console as root / iplinux and run the seed\'s install_step1.sh', { timeout: BOOT_LIMIT_MS + 60_000 }, async () => {
    const run = await boot(built, disk, 'ap.mode=status', BOOT_LIMIT_MS, [
      [/login: /, 'root\n'],
      [/Password: /, 'iplinux\n'],
      [/# /, 'cd /home/root && ./install_step1.sh log.txt status; tail -n 1 log.txt; poweroff -f\n'],
    ]);
    assert.ok(run.poweredOff, `QEMU did not power off within ${BOOT_LIMIT_MS / 1000} s:\n${run.console.slice(-3000)}`);
    // Once from /init's status run, once from the technician's.
    assert.equal(run.console.match(/boot control: rescue \(grub\)/g)?.length, 2, run.console.slice(-3000));
    assert.doesNotMatch(run.console, /Login incorrect/);
  });

  it('applies an update the supervisor staged, at a rescue boot (auto), and powers off instead of rebooting', { timeout: BOOT_LIMIT_MS + 60_000 }, async () => {
    // The supervisor's part, as on the box: fetch, verify and stage image 130012 into p1/update, boot control to the rescue.
    const pair = await generateKeyPair();
    const keys = join(dir, 'keys');
    await mkdir(keys);
    await writeFile(join(keys, 'release.pub'), pair.publicKey);
    const storeRoot = join(dir, 'store');
    await publishImage(storeRoot, await buildTestImage({ board: 'x86_64', label: '130012', out: join(dir, 'build'), key: pair.secretKey }), 'x86_64', '130012');
    const store = await startImageStore(storeRoot);
    const attached = attach(disk);
    const p1 = join(dir, 'p1');
    try {
      await mkdir(p1, { recursive: true });
      execFileSync('mount', [attached.part(1), p1]);
      try {
        const board = getBoard('x86_64');
        const jobs = new Jobs();
        const updater = new Updater({ bootDir: p1, board, boot: bootControl(board, p1), jobs, log: createLogger({ level: 'error', file: null }), storeUrl: async () => store.url, keysDir: keys, reboot: async () => {} });
        const job = (await jobs.settled(updater.startUpdate({ label: '130012', force: true }).id))!;
        assert.equal(job.state, 'succeeded', job.message);
      } finally {
        spawnSync('umount', [p1]);
      }
    } finally {
      attached.detach();
      await store.close();
    }

    const run = await boot(built, disk, 'ap.after=poweroff', BOOT_LIMIT_MS);
    console.log(`vm: update boot took ${run.seconds.toFixed(0)} s`);
    assert.ok(run.poweredOff, `QEMU did not power off within ${BOOT_LIMIT_MS / 1000} s:\n${run.console.slice(-3000)}`);
    assert.match(run.console, /mode auto/);
    assert.match(run.console, /applying image 130012/);
    assert.match(run.console, /auto done/, run.console.slice(-3000));

    const after = attach(disk);
    try {
      const label = spawnSync('debugfs', ['-R', 'cat /etc/ap-image-label', after.part(3)], { encoding: 'utf8' }).stdout;
      assert.equal(label, '130012\n');
      withMounted(after, 1, p1, () => {
        assert.match(readFileSync(join(p1, 'grub/grub.cfg'), 'utf8'), /^set default=1$/m);
        assert.match(readFileSync(join(p1, 'update/journal'), 'utf8'), /^finished 130012$/m);
      });
      withMounted(after, 2, join(dir, 'p2'), () => {
        assert.match(readFileSync(join(dir, 'p2/ramdisk.log'), 'utf8'), /applying image 130012[\s\S]*auto done/);
      });
    } finally {
      after.detach();
    }
  });

  it('ramdisk.mjs refuses a board it cannot build for, and writes nothing', () => {
    const out = join(dir, 'refused');
    const res = spawnSync(process.execPath, [join(REPO, 'tools/image/ramdisk.mjs'), '--board', 'ipx10', '--out', out], { encoding: 'utf8' });
    assert.equal(res.status, 1);
    assert.match(res.stderr, /built for the x86_64 board only \(not "ipx10"\)/);
    assert.equal(existsSync(out), false);
  });
});
