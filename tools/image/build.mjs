#!/usr/bin/env node
// Builds a small test image: a tiny ext4 rootfs (made with mkfs.ext4 -d from a
// folder holding /etc/ap-image-label as its marker), a stand-in kernel and a
// stand-in ramdisk, and the manifest; signs it when given a key.
//   node tools/image/build.mjs --board x86_64 --label 130015 --out DIR [--key K.key] [--rootfs-mb 8]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { register } from 'node:module';

const args = process.argv.slice(2);
const flag = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const board = flag('board');
const label = flag('label');
const out = flag('out');
if (!board || !label || !out) {
  console.error('usage: node tools/image/build.mjs --board NAME --label BUILD --out DIR [--key KEY] [--rootfs-mb 8]');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { buildTestImage } = await import('./lib.ts');
const keyFile = flag('key', null);
await buildTestImage({ board, label, out, key: keyFile ? readFileSync(keyFile, 'utf8') : null, rootfsMb: Number(flag('rootfs-mb', '8')) });
console.log(execFileSync('ls', ['-l', out], { encoding: 'utf8' }));
