// The real rootfs (tools/image/rootfs.mjs) on a disk laid out as the x86_64
// board says, booted in QEMU with the kernel and initrd of its own
// linux-image package: init runs the S* scripts, the supervisor answers
// /manager/health through a forwarded port, and init brings it back after a
// kill -9. The first build takes minutes (mmdebstrap); later runs reuse the
// cache in /var/cache/ap-image.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { freePort, sh, startMachine, until, vmUnavailable, type Machine } from './qemu';

const MB = 1024 * 1024;

const skip = vmUnavailable([['mmdebstrap', 'mmdebstrap'], ['debugfs', 'e2fsprogs'], ['dbclient', 'dropbear-bin'], ['mkswap', 'util-linux']]);

/** debugfs's answer about `path` inside the ext4 image (no mount, no loop device). */
const inImage = (image: string, request: string): string => sh('debugfs', ['-R', request, image]);

/** The non-folders below `folder` in the image (debugfs ls -p: /inode/mode/uid/gid/name/size/). */
function filesUnder(image: string, folder: string): string[] {
  const found: string[] = [];
  for (const line of inImage(image, `ls -p ${folder}`).split('\n')) {
    const [, , mode, , , name] = line.split('/');
    if (!name || name === '.' || name === '..') continue;
    if (mode!.startsWith('04')) found.push(...filesUnder(image, `${folder}/${name}`));
    else found.push(`${folder}/${name}`);
  }
  return found;
}

let dir: string;
let out: string;
let vm: Machine | undefined;
before(async () => {
  dir = await workspace('ap-vm-');
  out = join(dir, 'out');
});
after(async () => {
  await vm?.kill();
  await rm(dir, { recursive: true, force: true });
});

describe('the x86_64 rootfs', { skip: skip ?? false }, () => {
  it('builds: BusyBox init respawning the supervisor, p2 links, locked users, Node.js 20, within p3', { timeout: 40 * 60_000 }, async () => {
    const started = Date.now();
    const build = spawn(process.execPath, [join(REPO, 'tools/image/rootfs.mjs'), '--board', 'x86_64', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    build.stdout!.on('data', (d) => (log += d));
    build.stderr!.on('data', (d) => (log += d));
    const code = await new Promise((resolve) => build.once('exit', resolve));
    assert.equal(code, 0, log.slice(-4000));
    console.log(`rootfs build: ${((Date.now() - started) / 1000).toFixed(0)} s\n${log.split('\n').filter((l) => l.startsWith('rootfs:') || /^\s+\d+\s+\//.test(l)).join('\n')}`);

    const image = join(out, 'rootfs.ext4');
    assert.ok(statSync(image).size <= 500 * MB, `rootfs.ext4 is ${statSync(image).size / MB} MB, p3 holds 500`);
    const inittab = inImage(image, 'cat /etc/inittab');
    assert.match(inittab, /^::sysinit:\/etc\/init\.d\/rcS$/m);
    assert.match(inittab, /^::respawn:\/etc\/init\.d\/S92manager run$/m);
    assert.match(inImage(image, 'stat /sbin/init'), /Fast link dest: "\/bin\/busybox"/);
    assert.match(inImage(image, 'stat /apps'), /Fast link dest: "\/mnt\/sda2\/apps"/);
    assert.match(inImage(image, 'stat /var/log'), /Fast link dest: "\/mnt\/sda2\/log"/);
    // No account can log in with a password: no hash at all, so no default one.
    const shadow = inImage(image, 'cat /etc/shadow');
    for (const user of ['root', 'admin']) {
      const field = new RegExp(`^${user}:([^:]*):`, 'm').exec(shadow)?.[1];
      assert.ok(field !== undefined, `${user} is in /etc/shadow`);
      assert.match(field, /^[*!]/, `${user}'s password is locked`);
    }
    assert.match(inImage(image, 'cat /etc/fstab'), /^\/dev\/sda2 \/mnt\/sda2 ext4 /m);
    await rm(join(dir, 'node'), { force: true });
    sh('debugfs', ['-R', `dump /usr/local/bin/node ${join(dir, 'node')}`, image]);
    sh('chmod', ['755', join(dir, 'node')]);
    assert.match(sh(join(dir, 'node'), ['--version']), /^v20\./);
    assert.match(inImage(image, 'ls /usr/lib/ap/manager'), /ap\.js/);
    assert.match(inImage(image, 'ls /usr/lib/postgresql/15/bin'), /initdb/);
    // No documentation, manuals or translations: their folders hold no file (dpkg leaves the empty folders).
    for (const folder of ['/usr/share/doc', '/usr/share/man', '/usr/share/locale']) assert.deepEqual(filesUnder(image, folder), [], folder);
  });

  it('boots in QEMU; init starts the supervisor and brings it back after kill -9', { timeout: 30 * 60_000 }, async () => {
    assert.ok(existsSync(join(out, 'rootfs.ext4')), 'the build test ran first');
    // The disk as the board lays it out: p1 ext2, p2 ext4 (data), p3 the rootfs, p4 swap.
    const sizes = { p1: 350, p2: 512, p3: 500, p4: 512 };
    const disk = join(dir, 'disk.raw');
    const total = 1 + sizes.p1 + sizes.p2 + sizes.p3 + sizes.p4 + 1;
    sh('truncate', ['-s', `${total}M`, disk]);
    sh('sfdisk', ['-q', disk], `label: dos\nstart=1MiB, size=${sizes.p1}MiB, type=83\nsize=${sizes.p2}MiB, type=83\nsize=${sizes.p3}MiB, type=83\nsize=${sizes.p4}MiB, type=82\n`);
    const starts = JSON.parse(sh('sfdisk', ['--json', disk])).partitiontable.partitions.map((p: { start: number }) => p.start * 512);
    // A copy of p3 that lets the test's key log in as root over SSH (the image itself has no key).
    const p3 = join(dir, 'p3.ext4');
    sh('cp', [join(out, 'rootfs.ext4'), p3]);
    const key = join(dir, 'id_ed25519');
    sh('dropbearkey', ['-t', 'ed25519', '-f', key]);
    const pub = sh('dropbearkey', ['-y', '-f', key]).split('\n').find((l) => l.startsWith('ssh-ed25519'))!;
    await writeFile(join(dir, 'authorized_keys'), `${pub}\n`, { mode: 0o600 });
    sh('debugfs', ['-w', '-R', 'mkdir /root/.ssh', p3]);
    sh('debugfs', ['-w', '-R', `write ${join(dir, 'authorized_keys')} /root/.ssh/authorized_keys`, p3]);
    const parts: Array<[string, number]> = [];
    for (const [name, fs] of [['p1', 'ext2'], ['p2', 'ext4']] as const) {
      const file = join(dir, `${name}.img`);
      sh('mke2fs', ['-q', '-t', fs, '-F', file, `${sizes[name]}M`]);
      parts.push([file, starts[name === 'p1' ? 0 : 1]]);
    }
    const swap = join(dir, 'p4.img');
    sh('truncate', ['-s', `${sizes.p4}M`, swap]);
    sh('mkswap', ['-q', swap]);
    parts.push([p3, starts[2]], [swap, starts[3]]);
    for (const [file, offset] of parts) sh('dd', [`if=${file}`, `of=${disk}`, 'bs=1M', `seek=${offset}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none']);

    console.log(`qemu: ${existsSync('/dev/kvm') ? 'KVM' : 'TCG (no /dev/kvm): slow'}`);
    const ports = { app: await freePort(), manager: await freePort(), ssh: await freePort() };
    vm = startMachine({ disk, kernel: join(out, 'vmlinuz'), initrd: join(out, 'initrd.img'), append: 'root=/dev/sda3', ports, consoleLog: join(dir, 'console.log') });
    const machine = vm.process;
    const tail = vm.tail;

    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${ports.app}/manager/health`, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      return res.status === 200 ? true : undefined;
    };
    const ssh = (command: string) => sh('dbclient', ['-y', '-y', '-i', key, '-p', String(ports.ssh), 'root@127.0.0.1', command]);
    const bootStart = Date.now();
    try {
      await until('/manager/health 200', 15 * 60_000, health, machine);
      console.log(`qemu: health answered 200 after ${((Date.now() - bootStart) / 1000).toFixed(0)} s`);
      const first = await until('the supervisor pid over SSH', 2 * 60_000, async () => ssh('cat /var/run/ap.pid').trim() || undefined, machine);
      assert.match(ssh(`cat /proc/${first}/cmdline | tr '\\0' ' '`), /node .*ap\.js serve --board x86_64/);
      const killed = Date.now();
      ssh(`kill -9 ${first}`);
      // Init starts a new supervisor: a new pid, the old one gone, health answering again.
      const second = await until('a new supervisor', 10 * 60_000, async () => {
        const pid = ssh('cat /var/run/ap.pid').trim();
        return pid && pid !== first ? pid : undefined;
      }, machine);
      await until('/manager/health 200 again', 10 * 60_000, health, machine);
      console.log(`qemu: respawned as pid ${second}, healthy ${((Date.now() - killed) / 1000).toFixed(0)} s after the kill`);
      assert.equal(ssh(`kill -0 ${first} 2>/dev/null && echo alive || echo gone`).trim(), 'gone');
      // PostgreSQL runs from p2, and the logs land there through /var/log.
      assert.match(ssh('ls /mnt/sda2/pgsql/PG_VERSION /var/log/apps/manager/'), /PG_VERSION[\s\S]*manager\.log/);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await tail()}`);
    } finally {
      await vm.kill();
    }
  });
});
