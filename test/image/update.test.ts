// The supervisor's side of an image update against a local image store:
// signature, board and label checks before anything is written, a resumed
// download, staging for the rescue script, and the boot afterwards.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { after, before, beforeEach, describe, it } from 'node:test';
import { bootControl } from '../../src/boot';
import { getBoard } from '../../src/config';
import { parseJournal, Updater } from '../../src/image';
import { generateKeyPair } from '../../src/image/sign';
import { Jobs } from '../../src/jobs';
import { createLogger } from '../../src/log';
import { buildTestImage, publishImage, startImageStore, type ImageStore } from '../../tools/image/lib';
import { workspace } from '../harness/workspace';

const log = createLogger({ level: 'error', file: null });
let dir: string;
let store: ImageStore;
let boot: string;
let keys: string;
let reboots: number;
let updater: Updater;
let jobs: Jobs;
const board = getBoard('x86_64');

before(async () => {
  dir = await workspace('ap-update-');
  const trusted = await generateKeyPair();
  const stranger = await generateKeyPair();
  keys = join(dir, 'keys');
  await mkdir(keys);
  await writeFile(join(keys, 'release.pub'), `${trusted.publicKey}\n`);
  const storeRoot = join(dir, 'store');
  for (const [label, key, boardName, latest] of [
    ['130010', trusted.secretKey, 'x86_64', false],
    ['130015', trusted.secretKey, 'x86_64', true],
    ['130016', null, 'x86_64', false], // unsigned
    ['130017', stranger.secretKey, 'x86_64', false], // signed by someone else
    ['130018', trusted.secretKey, 'ipx10', false], // another board's, put where this board looks
    ['130019', trusted.secretKey, 'x86_64', false], // its rootfs is damaged below
    ['130020', trusted.secretKey, 'x86_64', false], // its kernel is cut short below
  ] as const) {
    const image = await buildTestImage({ board: boardName, label, out: join(dir, 'build', label), key });
    await publishImage(storeRoot, image, 'x86_64', label, latest);
  }
  const damaged = join(storeRoot, 'images/x86_64/130019/rootfs.img');
  const bytes = await readFile(damaged);
  bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
  await writeFile(damaged, bytes);
  const kernel = join(storeRoot, 'images/x86_64/130020/kernel');
  await writeFile(kernel, (await readFile(kernel)).subarray(0, 1000));
  store = await startImageStore(storeRoot);
});

after(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  boot = join(dir, `p1-${Math.random().toString(36).slice(2)}`);
  await mkdir(boot);
  await writeFile(join(boot, 'label'), '130012\n');
  reboots = 0;
  jobs = new Jobs();
  updater = new Updater({
    bootDir: boot,
    board,
    boot: bootControl(board, boot),
    jobs,
    log,
    storeUrl: async () => store.url,
    keysDir: keys,
    reboot: async () => void reboots++,
  });
  await bootControl(board, boot).set('normal');
});

const run = async (options: Parameters<Updater['startUpdate']>[0]) => (await jobs.settled(updater.startUpdate(options).id))!;

describe('image update (supervisor side)', () => {
  it('offers the latest image of the board', async () => {
    assert.deepEqual(await updater.check(), { running: '130012', available: '130015', store: store.url });
  });

  for (const [label, pattern, force] of [
    ['130016', /not signed/, false],
    ['130017', /does not verify with a trusted key/, false],
    ['130018', /for board ipx10; this box is x86_64/, false],
    ['130010', /older than the running 130012/, false],
    ['130019', /rootfs\.img does not match its manifest/, false],
    ['130020', /kernel: the download stopped at 1000 of/, false],
  ] as const) {
    it(`refuses image ${label} (${String(pattern)}) and leaves the boot control alone`, async () => {
      const job = await run({ label, force });
      assert.equal(job.state, 'failed');
      assert.match(job.message, pattern);
      assert.equal((await bootControl(board, boot).read()).mode, 'normal');
      assert.equal(reboots, 0);
      assert.deepEqual((await updater.journal()).filter((e) => e.step === 'staged'), []);
      assert.equal((await readFile(join(boot, 'label'), 'utf8')).trim(), '130012');
    });
  }

  it('stages the latest image, switches to the rescue and reboots; a dropped download resumes', async () => {
    store.cutAfter('/images/x86_64/130015/rootfs.img', 100_000);
    const failed = await run({});
    assert.equal(failed.state, 'failed');
    const kept = Number(/stopped at (\d+) of/.exec(failed.message)?.[1]);
    assert.ok(kept > 0 && kept <= 100_000, failed.message);
    const requestsBefore = store.requests.length;
    const ok = await run({});
    assert.equal(ok.state, 'succeeded', ok.message);
    const rootfs = store.requests.slice(requestsBefore).find((r) => r.path.endsWith('/rootfs.img'));
    assert.equal(rootfs?.range, `bytes=${kept}-`); // resumed exactly after the bytes kept
    assert.equal(reboots, 1);
    assert.equal((await bootControl(board, boot).read()).mode, 'rescue');
    assert.deepEqual(
      (await updater.journal()).map((e) => `${e.step} ${e.label}`),
      ['staged 130015', 'rescue 130015'],
    );
    // What the rescue script checks before it writes anything.
    const staged = join(boot, 'update');
    assert.match(execFileSync('sha256sum', ['-c', 'files.sha256'], { cwd: staged, encoding: 'utf8' }), /rootfs\.img: OK/);
    assert.deepEqual((await readdir(staged)).sort(), ['files.sha256', 'journal', 'kernel', 'label', 'manifest.json', 'manifest.sig', 'ramdisk.ext2.xz', 'rootfs.img']);
  });

  /** A staging folder for 130015 as a power cut leaves it: `part` as rootfs.img.part, `ok` as its checkpoint. */
  async function cutStaging(part: Buffer, ok: number | null): Promise<void> {
    const staged = join(boot, 'update');
    await mkdir(staged, { recursive: true });
    await writeFile(join(staged, 'label'), '130015\n');
    await writeFile(join(staged, 'rootfs.img.part'), part);
    if (ok !== null) await writeFile(join(staged, 'rootfs.img.part.ok'), `${ok}\n`);
  }
  const rootfsRequests = (from: number) => store.requests.slice(from).filter((r) => r.path.endsWith('/130015/rootfs.img')).map((r) => r.range ?? 'all');

  it('after a power cut keeps only the checkpointed bytes of a download (ext2: the size may reach the disk before the data)', async () => {
    const good = await readFile(join(dir, 'store/images/x86_64/130015/rootfs.img'));
    await cutStaging(Buffer.concat([good.subarray(0, 65536), Buffer.alloc(65536, 0)]), 65536);
    const from = store.requests.length;
    const ok = await run({});
    assert.equal(ok.state, 'succeeded', ok.message);
    assert.deepEqual(rootfsRequests(from), ['bytes=65536-']);
    assert.equal(existsSync(join(boot, 'update/rootfs.img.part.ok')), false);
  });

  it('downloads again from the start, in the same try, when the bytes kept are not what they should be', async () => {
    await cutStaging(Buffer.alloc(65536, 0x55), 65536);
    const from = store.requests.length;
    const ok = await run({});
    assert.equal(ok.state, 'succeeded', ok.message);
    assert.deepEqual(rootfsRequests(from), ['bytes=65536-', 'all']);
  });

  it('keeps nothing of a .part without a checkpoint', async () => {
    const good = await readFile(join(dir, 'store/images/x86_64/130015/rootfs.img'));
    await cutStaging(good.subarray(0, 65536), null);
    const from = store.requests.length;
    const ok = await run({});
    assert.equal(ok.state, 'succeeded', ok.message);
    assert.deepEqual(rootfsRequests(from), ['all']);
  });

  it("empties p1's lost+found before staging: what e2fsck put there after a power cut would fill p1", async () => {
    // As the vm tier's power cuts left it: an old image's folder, half removed, reconnected by e2fsck.
    await mkdir(join(boot, 'lost+found/#18361'), { recursive: true });
    await writeFile(join(boot, 'lost+found/#18361/rootfs.img'), Buffer.alloc(1 << 20, 7));
    await writeFile(join(boot, 'lost+found/#57126'), Buffer.alloc(4096, 1));
    const ok = await run({});
    assert.equal(ok.state, 'succeeded', ok.message);
    assert.deepEqual(await readdir(join(boot, 'lost+found')), []);
  });

  it('refuses an image that does not fit p1 before a byte is downloaded (NO_ROOM), the boot control untouched', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a small tmpfs as p1' }, async () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', boot]);
    try {
      await writeFile(join(boot, 'label'), '130012\n');
      await bootControl(board, boot).set('normal');
      const from = store.requests.length;
      const job = await run({});
      assert.equal(job.state, 'failed');
      assert.match(job.message, /^image 130015 needs \d+\.\d MB more on .*, which has 0\.\d MB free: nothing was downloaded$/);
      assert.deepEqual(rootfsRequests(from), []);
      assert.equal((await bootControl(board, boot).read()).mode, 'normal');
      assert.equal(reboots, 0);
    } finally {
      execFileSync('umount', [boot]);
    }
  });

  it('confirms the new image after the boot, and reports a rollback', async () => {
    await mkdir(join(boot, 'update'));
    await writeFile(join(boot, 'update/journal'), 'staged 130015\nrescue 130015\napply 130015\nrootfs 130015\nfsck 130015\nkernel 130015\nnormal 130015\nfinished 130015\n');
    await writeFile(join(boot, 'boot_attempts'), '1\n');
    const reports: string[] = [];
    const u = new Updater({ bootDir: boot, board, boot: bootControl(board, boot), jobs, log, storeUrl: async () => store.url, keysDir: keys, reboot: async () => {}, report: (r) => void reports.push(`${r.ok} ${r.label}`) });
    assert.deepEqual(await u.afterBoot(), { outcome: 'confirmed', label: '130015' });
    assert.equal((await readFile(join(boot, 'label'), 'utf8')).trim(), '130015');
    assert.deepEqual((await readdir(boot)).sort(), ['grub', 'label']); // staging and boot attempts gone
    await mkdir(join(boot, 'update'));
    await writeFile(join(boot, 'update/journal'), 'staged 130016\nfinished 130016\nfailed 130016\nrolledback 130016\n');
    assert.deepEqual(await u.afterBoot(), { outcome: 'rolledback', label: '130016' });
    assert.equal((await readFile(join(boot, 'label'), 'utf8')).trim(), '130015');
    assert.deepEqual(reports, ['true 130015', 'false 130016']);
  });

  it('finishes a switch to the rescue that a power cut interrupted after staging', async () => {
    await mkdir(join(boot, 'update'));
    await writeFile(join(boot, 'update/journal'), 'staged 130015\n');
    assert.deepEqual(await updater.afterBoot(), { outcome: 'resumed', label: '130015' });
    assert.equal(reboots, 1);
    assert.equal((await bootControl(board, boot).read()).mode, 'rescue');
    assert.deepEqual((await updater.journal()).map((e) => e.step), ['staged', 'rescue']);
  });

  it('reads a torn journal line as absent', () => {
    assert.deepEqual(parseJournal('staged 130015\nrescue 1300'), [
      { step: 'staged', label: '130015' },
      { step: 'rescue', label: '1300' },
    ]);
    assert.deepEqual(parseJournal('staged 130015\nresc'), [{ step: 'staged', label: '130015' }]);
  });
});
