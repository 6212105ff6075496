// The image update through the bundled supervisor on the x86_64 board (state
// in a folder): check, run (download, verify, stage, boot control, the reboot
// port), /manager/boot and /manager/ramdisk.log, and the technicians' helpers.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair } from '../../src/image/sign';
import { buildTestImage, publishImage, startImageStore, type ImageStore } from '../../tools/image/lib';
import { fetchRaw, until } from '../harness/http';
import { ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let port: number;
let store: ImageStore;
let rebootMarker: string;

const ctlRaw = (...args: string[]) => runApSync(['ctl', ...args, '--root', root, '--board', 'x86_64']);
const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root, '--board', 'x86_64']);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};

/** Without blocking this process, where the image store runs. */
const ctlAsync = async (...args: string[]) => {
  const r = runAp(['ctl', ...args, '--json', '--root', root, '--board', 'x86_64']);
  const [code] = await r.exited;
  assert.equal(code, 0, r.output.text);
  return JSON.parse(r.output.text);
};

before(async () => {
  dir = await workspace('ap-e2e-update-');
  const pair = await generateKeyPair();
  const storeRoot = join(dir, 'store');
  await publishImage(storeRoot, await buildTestImage({ board: 'x86_64', label: '130015', out: join(dir, 'build'), key: pair.secretKey }), 'x86_64', '130015');
  store = await startImageStore(storeRoot);
  rebootMarker = join(dir, 'rebooted');
  root = await rootWithConfig(dir, {});
  await mkdir(join(root, 'etc/ap/keys'), { recursive: true });
  await writeFile(join(root, 'etc/ap/keys/release.pub'), pair.publicKey);
  await mkdir(join(root, 'mnt/sda1'), { recursive: true });
  await writeFile(join(root, 'mnt/sda1/label'), '130012\n');
  await mkdir(join(root, 'mnt/sda2'), { recursive: true });
  await writeFile(join(root, 'mnt/sda2/ramdisk.log'), '2026-11-28T00:00:00Z applying image 130012\nfinished\n');
  run = runAp(['serve', '--root', root, '--board', 'x86_64', '--db', 'managed', '--http-port', '0', '--https-port', '0', '--host', '127.0.0.1', '--reserve-size', '0', '--reboot-command', `touch ${rebootMarker}`]);
  port = (await readyPorts(run)).app;
  ctl('boot', 'normal');
});

after(async () => {
  if (run) await ensureStopped(run);
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('image update through the supervisor', () => {
  it('shows the boot control to the gateway and technicians, and the ramdisk log', async () => {
    const boot = await fetchRaw(`http://127.0.0.1:${port}/manager/boot`);
    assert.equal(boot.status, 200);
    assert.deepEqual(JSON.parse(boot.body.toString()), { mode: 'normal', kind: 'grub', kernelCommandLine: 'root=/dev/sda3', initrdFile: '', ramdiskSize: '' });
    const log = await fetchRaw(`http://127.0.0.1:${port}/manager/ramdisk.log`);
    assert.equal(log.status, 200);
    assert.match(log.body.toString(), /finished\n$/);
    assert.match(ctlRaw('boot', 'show').stdout, /next boot: +normal \(grub/);
  });

  it('needs a store, then offers and installs its newest image, rebooting through the port', async () => {
    const none = runApSync(['ctl', 'update', 'run', '--root', root, '--board', 'x86_64']);
    assert.notEqual(none.status, 0);
    assert.match(none.stdout + none.stderr, /set the App Store URL first/);
    ctl('setting', 'set', 'appStoreUrl', store.url);
    const check = await ctlAsync('update', 'check');
    assert.deepEqual([check.running, check.available], ['130012', '130015']);
    const job = await ctlAsync('update', 'run');
    assert.equal(job.state, 'succeeded', job.message);
    assert.match(job.message, /image 130015 staged; rebooting to apply it/);
    assert.deepEqual((await ctlAsync('update', 'check')).journal.map((e: { step: string }) => e.step), ['staged', 'rescue']);
    assert.equal(ctl('boot', 'show').mode, 'rescue');
    await until('reboot port called', async () => (existsSync(rebootMarker) ? true : undefined));
    assert.match(await readFile(join(root, 'mnt/sda1/grub/grub.cfg'), 'utf8'), /^set default=0$/m);
  });

  it('gives technicians the seed\'s label reset and the boot switch', async () => {
    assert.match(ctlRaw('update', 'reset-label').stdout, /label set to 110000/);
    assert.equal((await readFile(join(root, 'mnt/sda1/label'), 'utf8')).trim(), '110000');
    assert.equal(ctl('boot', 'normal').mode, 'normal');
    assert.equal(ctlRaw('boot', 'sideways').status, 2);
  });
});
