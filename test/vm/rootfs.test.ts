// The real rootfs (tools/image/rootfs.mjs), checked as a tree: BusyBox init
// respawning the supervisor, the links into p2, locked users, Node.js 20,
// within p3. test/vm/image.test.ts boots it, installed on a disk. The first
// build takes minutes (mmdebstrap); later runs reuse the cache in
// /var/cache/ap-image.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { sh, vmUnavailable } from './qemu';

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
before(async () => {
  dir = await workspace('ap-vm-');
  out = join(dir, 'out');
});
after(async () => {
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
    // What a box keeps across image updates lives on p2: technicians' keys, the SSH host keys.
    assert.match(inImage(image, 'stat /root/.ssh'), /Fast link dest: "\/mnt\/sda2\/home\/root\/\.ssh"/);
    assert.match(inImage(image, 'stat /etc/dropbear'), /Fast link dest: "\/mnt\/sda2\/etc\/dropbear"/);
    // init's reboot (the supervisor reboots into the rescue with it).
    assert.match(inImage(image, 'stat /sbin/reboot'), /Fast link dest: "\/bin\/busybox"/);
    assert.match(inImage(image, 'stat /usr/sbin/ap-chpasswd'), /Mode:\s+0755/);
    // The rescue script where the seed puts it, with the board: S01bootcheck switches to the rescue with it.
    assert.match(inImage(image, 'stat /home/root/install_step1.sh'), /Mode:\s+0755/);
    assert.match(inImage(image, 'cat /etc/ap/board.env'), /^BOARD='x86_64'$/m);
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
});
