#!/usr/bin/env node
// Builds a board's OS image: the folder an App Store serves and the rescue
// system installs or applies (docs/update.md).
//
//   node tools/image/build.mjs --board x86_64 --label 130100 --out DIR [--key K.key]
//        [--installer FILE] [--publish STORE] [--cache DIR]
//     The real image (root, loop-free): the rootfs of tools/image/rootfs.mjs with
//     /etc/ap-image-label, compressed with zstd (rootfs.img), the kernel and the
//     rescue ramdisk of tools/image/ramdisk.mjs (kernel, ramdisk.ext2.xz, which
//     is also the App Platform's initramfs), manifest.json (signed into
//     manifest.sig with --key; K.pub beside K.key goes into the rootfs's
//     /etc/ap/keys, so the box trusts what K signs), files.sha256 and label. --installer also writes
//     FILE, an ext4 filesystem labelled apinstall holding the image: the
//     installation medium the rescue system's `install` looks for (attach it as
//     a second disk). --publish copies the image into a store folder as its
//     board's latest (serve it with tools/image/store.mjs).
//
//   node tools/image/build.mjs --stand-in --board x86_64 --label 130015 --out DIR [--key K.key] [--rootfs-mb 8]
//     A small test image: an 8 MB ext4 rootfs holding /etc/ap-image-label and
//     stand-in kernel and ramdisk files (the updater's tests).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const board = flag('board');
const label = flag('label');
const out = flag('out') && resolve(flag('out'));
if (!board || !label || !out || !/^\d{1,12}$/.test(label)) {
  console.error('usage: node tools/image/build.mjs --board NAME --label BUILD --out DIR [--key KEY] [--installer FILE] [--publish STORE] [--cache DIR]\n'
    + '       node tools/image/build.mjs --stand-in --board NAME --label BUILD --out DIR [--key KEY] [--rootfs-mb 8]');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { buildTestImage, publishImage, writeManifest } = await import('./lib.ts');
const keyFile = flag('key', null);
const key = keyFile ? readFileSync(keyFile, 'utf8') : null;

if (args.includes('--stand-in') || args.includes('--rootfs-mb')) {
  await buildTestImage({ board, label, out, key, rootfsMb: Number(flag('rootfs-mb', '8')) });
  console.log(execFileSync('ls', ['-l', out], { encoding: 'utf8' }));
  process.exit(0);
}

const started = Date.now();
const cache = flag('cache', process.env.AP_IMAGE_CACHE ?? '/var/cache/ap-image');
const work = `${out}.work-${process.pid}`;
const fail = (message) => {
  rmSync(work, { recursive: true, force: true });
  console.error(`image: ${message}`);
  process.exit(1);
};
if (process.getuid() !== 0) fail('must run as root (the rootfs build chroots)');
for (const [cmd, pkg] of [['zstd', 'zstd'], ['debugfs', 'e2fsprogs'], ['mke2fs', 'e2fsprogs']]) {
  if (spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd]).status !== 0) fail(`${cmd} is missing (apt-get install ${pkg})`);
}
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// 1. The rootfs (p3) and the ramdisk with the kernel (p1), each from its cache when its inputs are unchanged.
const rootfsRun = spawnSync(process.execPath, [join(here, 'rootfs.mjs'), '--board', board, '--out', join(work, 'rootfs'), '--cache', cache], { stdio: 'inherit' });
if (rootfsRun.status !== 0) fail('the rootfs build failed');
const { buildRamdisk } = await import('./ramdisk-lib.mjs');
const ramdisk = await buildRamdisk({ board, cache, log: (line) => console.log(line) });

// 2. One kernel for both: the ramdisk's, whose modules the rootfs must have (udev loads the rest from there).
const rootfsExt4 = join(work, 'rootfs/rootfs.ext4');
const modules = execFileSync('debugfs', ['-R', 'ls /lib/modules', rootfsExt4], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
if (!modules.includes(ramdisk.kernelVersion)) {
  fail(`the rootfs has modules for ${modules.trim().split(/\s+/).filter((w) => /^\d+\.\d+/.test(w)).join(', ')}, the ramdisk's kernel is ${ramdisk.kernelVersion}: rebuild the Debian tree (remove ${cache}/debian-*.tar)`);
}

// 3. The label inside the rootfs, then the rootfs compressed (p1 keeps two of them in 350 MB).
writeFileSync(join(work, 'label'), `${label}\n`);
spawnSync('debugfs', ['-w', '-R', 'rm /etc/ap-image-label', rootfsExt4], { stdio: 'ignore' });
execFileSync('debugfs', ['-w', '-R', `write ${join(work, 'label')} /etc/ap-image-label`, rootfsExt4], { stdio: 'ignore' });
if (!execFileSync('debugfs', ['-R', 'cat /etc/ap-image-label', rootfsExt4], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes(label)) {
  fail('could not write /etc/ap-image-label into the rootfs');
}
// The signer's public key (K.pub beside K.key) trusted by the box: the next images and App Store packages.
const pub = keyFile && keyFile.replace(/\.key$/, '.pub');
if (pub && pub !== keyFile && existsSync(pub)) {
  const name = basename(pub);
  spawnSync('debugfs', ['-w', '-R', `rm /etc/ap/keys/${name}`, rootfsExt4], { stdio: 'ignore' });
  execFileSync('debugfs', ['-w', '-R', `write ${resolve(pub)} /etc/ap/keys/${name}`, rootfsExt4], { stdio: 'ignore' });
  console.log(`image: the box trusts ${name}`);
} else if (keyFile) {
  console.log(`image: no ${pub} beside ${keyFile}: the box trusts only the keys in overlay/etc/ap/keys`);
}
const image = join(work, 'image');
mkdirSync(image);
const zstdStarted = Date.now();
execFileSync('zstd', ['-q', '-9', '-T0', rootfsExt4, '-o', join(image, 'rootfs.img')]);
const zstdSeconds = (Date.now() - zstdStarted) / 1000;
const rootfsMB = (statSync(rootfsExt4).size / 1048576).toFixed(0);
copyFileSync(ramdisk.kernel, join(image, 'kernel'));
copyFileSync(ramdisk.ramdisk, join(image, 'ramdisk.ext2.xz'));
await writeManifest(image, board, label, key);

// 4. In place: the image folder, then the installation medium and the store when asked.
rmSync(out, { recursive: true, force: true });
mkdirSync(dirname(out), { recursive: true });
renameSync(image, out);
const installer = flag('installer', null);
if (installer) {
  const bytes = ['kernel', 'ramdisk.ext2.xz', 'rootfs.img'].reduce((sum, f) => sum + statSync(join(out, f)).size, 0);
  const sizeMB = Math.ceil((bytes * 1.05) / 1048576) + 16;
  const part = `${resolve(installer)}.part`;
  rmSync(part, { force: true });
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-L', 'apinstall', '-m', '0', '-d', out, '-F', part, `${sizeMB}M`]);
  renameSync(part, resolve(installer));
  console.log(`image: installation medium ${resolve(installer)} (${sizeMB} MB, label apinstall)`);
}
const store = flag('publish', null);
if (store) {
  await publishImage(resolve(store), out, board, label, true);
  console.log(`image: published in ${resolve(store)}/images/${board}/${label} as the latest`);
}
rmSync(work, { recursive: true, force: true });
const mb = (f) => (statSync(join(out, f)).size / 1048576).toFixed(1);
console.log(`image: ${board} ${label} in ${out}: rootfs.img ${mb('rootfs.img')} MB (zstd -9 of the ${rootfsMB} MB rootfs in ${zstdSeconds.toFixed(1)} s), kernel ${ramdisk.kernelVersion} ${mb('kernel')} MB, ramdisk ${mb('ramdisk.ext2.xz')} MB, ${key ? 'signed' : 'UNSIGNED (no --key)'}; built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
