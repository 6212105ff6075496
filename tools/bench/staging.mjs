#!/usr/bin/env node
// Staging throughput: the supervisor's image staging (src/image Updater.stage:
// HTTP download from a store on loopback, SHA-256 as it arrives, each chunk
// written before the next is read, fsync, rename, read back once more) against
// `dd bs=1M conv=fsync` of the same file to the same filesystem, alternating,
// in the same run. The store runs in a process of its own (a real store is
// elsewhere; in this one it would share the staging's event loop) and is
// served from the page cache, so the figure is the staging's own cost, not
// the network's. The filesystem is p1 as the x86_64 board has it: ext2 in an
// image file on this machine's disk, on a loop device (root). Both end with
// the data on the disk (fsync).
//   node tools/bench/staging.mjs [--mb 128] [--rounds 3] [--image DIR]
// --image DIR stages a built image (tools/image/build.mjs) instead of a
// random rootfs.img of --mb MB (random: incompressible, as zstd output is).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const mb = Number(opt('mb', 128));
const rounds = Number(opt('rounds', 3));
const imageDir = opt('image', null);
if (process.getuid() !== 0) {
  console.error('staging: run as root (a loop device for the ext2 p1)');
  process.exit(2);
}
register('../ts-loader.mjs', import.meta.url);
const { Updater } = await import('../../src/image/index.ts');
const { bootControl } = await import('../../src/boot/index.ts');
const { getBoard } = await import('../../src/config/index.ts');
const { Jobs } = await import('../../src/jobs/index.ts');
const { createLogger } = await import('../../src/log/index.ts');
const { generateKeyPair } = await import('../../src/image/sign.ts');
const { publishImage, writeManifest } = await import('../image/lib.ts');

const work = mkdtempSync(join(tmpdir(), 'ap-bench-staging-'));
const mnt = join(work, 'p1');
let loop = null;
const label = '999001';
try {
  // The image and its store.
  const pair = await generateKeyPair();
  const image = join(work, 'image');
  mkdirSync(image);
  if (imageDir) {
    for (const f of ['kernel', 'ramdisk.ext2.xz', 'rootfs.img']) copyFileSync(join(imageDir, f), join(image, f));
  } else {
    writeFileSync(join(image, 'kernel'), randomBytes(8 << 20));
    writeFileSync(join(image, 'ramdisk.ext2.xz'), randomBytes(4 << 20));
    const out = join(image, 'rootfs.img');
    for (let i = 0; i < mb; i += 16) writeFileSync(out, randomBytes(Math.min(16, mb - i) << 20), { flag: 'a' });
  }
  await writeManifest(image, 'x86_64', label, pair.secretKey);
  await publishImage(join(work, 'store'), image, 'x86_64', label, true);
  // The store in a process of its own, as a real one is elsewhere: it must not share the staging's event loop.
  const storeProcess = spawn(process.execPath, [join(here, '../image/store.mjs'), join(work, 'store')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const storeUrl = await new Promise((resolve, reject) => {
    let text = '';
    storeProcess.stdout.on('data', (d) => {
      text += d;
      const m = /at (http:\/\/\S+)/.exec(text);
      if (m) resolve(m[1]);
    });
    storeProcess.once('exit', (code) => reject(new Error(`the store exited (${code})`)));
  });
  const keys = join(work, 'keys');
  mkdirSync(keys);
  writeFileSync(join(keys, 'bench.pub'), pair.publicKey);
  const bytes = ['kernel', 'ramdisk.ext2.xz', 'rootfs.img'].reduce((s, f) => s + statSync(join(image, f)).size, 0);

  // p1: ext2 on a loop device over a file on this machine's disk.
  const fsFile = join(work, 'p1.ext2');
  execFileSync('truncate', ['-s', `${Math.ceil((bytes * 2.3) / 1048576) + 64}M`, fsFile]);
  execFileSync('mke2fs', ['-q', '-t', 'ext2', '-F', fsFile]);
  loop = execFileSync('losetup', ['--find', '--show', fsFile], { encoding: 'utf8' }).trim();
  mkdirSync(mnt);
  execFileSync('mount', [loop, mnt]);

  const log = createLogger({ level: 'error' });
  const board = getBoard('x86_64');
  const updater = new Updater({ bootDir: mnt, board, boot: bootControl(board, mnt), jobs: new Jobs(), log, storeUrl: async () => storeUrl, keysDir: keys, reboot: async () => {} });
  // The image in the page cache (the store's side, and dd's source), p1's writes on the disk.
  const warm = () => {
    execFileSync('sh', ['-c', 'cat "$@" >/dev/null; sync', 'sh', ...['kernel', 'ramdisk.ext2.xz', 'rootfs.img'].map((f) => join(image, f))]);
  };
  const results = { staging: [], dd: [] };
  for (let round = 1; round <= rounds; round++) {
    rmSync(join(mnt, 'update'), { recursive: true, force: true });
    warm();
    let t = process.hrtime.bigint();
    await updater.stage(label, true);
    const staging = bytes / 1048576 / (Number(process.hrtime.bigint() - t) / 1e9);
    rmSync(join(mnt, 'update'), { recursive: true, force: true });
    warm();
    t = process.hrtime.bigint();
    for (const f of ['kernel', 'ramdisk.ext2.xz', 'rootfs.img']) {
      const r = spawnSync('dd', [`if=${join(image, f)}`, `of=${join(mnt, `dd-${f}`)}`, 'bs=1M', 'conv=fsync', 'status=none']);
      if (r.status !== 0) throw new Error(`dd: ${r.stderr}`);
    }
    const dd = bytes / 1048576 / (Number(process.hrtime.bigint() - t) / 1e9);
    for (const f of ['kernel', 'ramdisk.ext2.xz', 'rootfs.img']) rmSync(join(mnt, `dd-${f}`));
    results.staging.push(staging);
    results.dd.push(dd);
    console.log(`round ${round}: staging ${staging.toFixed(1)} MB/s, dd ${dd.toFixed(1)} MB/s (${(staging / dd).toFixed(2)}×)`);
  }
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(`staging ${(bytes / 1048576).toFixed(0)} MB onto ext2 p1 (loop device): median staging ${median(results.staging).toFixed(1)} MB/s, dd ${median(results.dd).toFixed(1)} MB/s, ratio ${(median(results.staging) / median(results.dd)).toFixed(2)}× (target ≥ 0.8×)`);
  storeProcess.kill();
} finally {
  if (loop) {
    spawnSync('umount', [mnt]);
    spawnSync('losetup', ['-d', loop]);
  }
  rmSync(work, { recursive: true, force: true });
}
