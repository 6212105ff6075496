#!/usr/bin/env node
// Builds the rescue ramdisk and fetches the kernel for a board (x86_64 only):
// an initramfs (newc cpio, gzip) with BusyBox, the rescue scripts, the disk
// tools the scripts call with their shared libraries, the kernel modules that
// let the kernel see a SATA or virtio disk and ext4, and an /init that runs the
// rescue flow (tools/image/ramdisk-init.sh).
//   node tools/image/ramdisk.mjs --board x86_64 --out DIR [--cache DIR]
// Writes DIR/kernel and DIR/ramdisk.cpio.gz. Debian's packages are fetched with
// `apt-get download` and unpacked with `dpkg-deb -x` below the work folder,
// never installed on this machine. The result is cached in
// CACHE/ramdisk-<hash of the inputs> (default /var/cache/ap-image), so a second
// build with the same scripts and package versions takes no time.
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildRamdisk } from './ramdisk-lib.mjs';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const board = flag('board');
const out = flag('out');
if (!board || !out) {
  console.error('usage: node tools/image/ramdisk.mjs --board x86_64 --out DIR [--cache DIR]');
  process.exit(2);
}
try {
  const built = await buildRamdisk({ board, cache: flag('cache', process.env.AP_IMAGE_CACHE ?? '/var/cache/ap-image'), log: (line) => console.log(line) });
  await mkdir(out, { recursive: true });
  for (const [from, name] of [[built.kernel, 'kernel'], [built.ramdisk, 'ramdisk.cpio.gz']]) {
    await copyFile(from, join(out, `${name}.new`));
    await rename(join(out, `${name}.new`), join(out, name));
  }
  console.log(`ramdisk: ${join(out, 'ramdisk.cpio.gz')} ${(built.ramdiskBytes / 1048576).toFixed(1)} MiB, kernel ${built.kernelVersion} ${(built.kernelBytes / 1048576).toFixed(1)} MiB (${built.cached ? 'from the cache' : `built in ${built.seconds.toFixed(1)} s`}: ${built.dir})`);
} catch (err) {
  if (existsSync(join(out, 'kernel.new'))) await rm(join(out, 'kernel.new'), { force: true });
  console.error(`ramdisk: ${err.message}`);
  process.exit(1);
}
