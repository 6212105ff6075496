// The supervisor updates itself through the App Store, end to end: the real
// bundle installed as /apps/manager (build 100) under a respawn loop standing
// in for init (`S92manager run` started again whenever it exits), a store with
// newer builds. A good build takes over; a tampered one changes nothing; one
// that never gets ready is replaced by the previous build after three
// attempts, which raises MANAGER_UPDATE_FAILED. A development run (the bundle
// in dist/, no respawner) refuses to update itself.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair } from '../../src/image/sign';
import { storeArch } from '../../src/store';
import { startImageStore, type ImageStore } from '../../tools/image/lib';
import { publishManager } from '../../tools/store/manager';
import { until } from '../harness/http';
import { ensureStopped, processesMentioning, REPO, runAp, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

const ARCH = storeArch('any');
const DIST = join(REPO, 'dist');
// Starts like a supervisor and never gets ready: it fails in its start, as a build with a fatal bug would.
const BROKEN = "if (process.argv[2] !== 'serve') process.exit(0);\nconsole.error('broken build: cannot start');\nprocess.exit(1);\n";

let dir: string;
let root: string;
let apps: string;
let store: ImageStore;

/** `ap ctl … --json` without blocking the event loop (the store is served from this process). */
const ctl = async (...args: string[]): Promise<{ code: number; body: any; text: string }> => {
  const r = runAp(['ctl', ...args, '--json', '--root', root]);
  const [code] = await r.exited;
  let body: any = null;
  try {
    body = JSON.parse(r.output.text);
  } catch {
    // not JSON: a usage error
  }
  return { code: code ?? -1, body, text: r.output.text };
};

/** Init's respawn line: `S92manager run` again whenever it exits, until stopped. */
class Respawner {
  child: ChildProcess | null = null;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();

  start(): void {
    if (this.stopping) return;
    const child = spawn('busybox', ['sh', join(REPO, 'overlay/etc/init.d/S92manager'), 'run'], {
      stdio: 'ignore',
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/',
        AP_ROOT: root,
        AP_BOARD: 'dev',
        NODE: process.execPath,
        AP_FACTORY_JS: join(root, 'no-factory/ap.js'),
        AP_SERVE_ARGS: '--http-port 0 --https-port 0 --reserve-size 0',
        AP_TRIAL_WAIT: '60',
        AP_CHECK_RESPONSES: '1',
      },
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => this.start());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await this.exited;
    clearTimeout(timer);
  }
}

const respawner = new Respawner();

/** The running supervisor's answer about itself, once it answers (it may be restarting). */
const runningBuild = async (): Promise<any> => {
  const r = await ctl('manager', 'check');
  return r.code === 0 ? r.body : undefined;
};
const waitForBuild = (build: string, timeoutMs = 120_000) => until(`build ${build} to answer`, async () => {
  const b = await runningBuild();
  return b?.build === build ? b : undefined;
}, timeoutMs);
const listing = async () => (await readdir(apps)).sort();
const buildIn = async (folder: string) => JSON.parse(await readFile(join(apps, folder, 'app.json'), 'utf8')).label as string;

before(async () => {
  dir = await workspace('ap-selfupdate-e2e-');
  const trusted = await generateKeyPair();
  const storeRoot = join(dir, 'store');
  await publishManager(storeRoot, DIST, { build: '101', arch: ARCH, key: trusted.secretKey });
  await publishManager(storeRoot, DIST, { build: '102', arch: ARCH, key: trusted.secretKey, replace: { 'ap.js': BROKEN } });
  const tampered = await publishManager(storeRoot, DIST, { build: '103', arch: ARCH, key: trusted.secretKey });
  const sdk = await readFile(join(tampered, 'sdk.js'));
  sdk[sdk.length - 2] = sdk[sdk.length - 2]! ^ 1; // same size, other bytes: not what was signed
  await writeFile(join(tampered, 'sdk.js'), sdk);
  store = await startImageStore(storeRoot);

  root = await rootWithConfig(dir, {});
  apps = join(root, 'mnt/sda2/apps');
  await mkdir(join(root, 'etc/ap/keys'), { recursive: true });
  await writeFile(join(root, 'etc/ap/keys/release.pub'), trusted.publicKey);
  // The box's installed supervisor: the bundle as build 100.
  await cp(DIST, join(apps, 'manager'), { recursive: true });
  await writeFile(join(apps, 'manager/app.json'), JSON.stringify({ name: 'manager', version: '1.0.0', label: '100' }));
});

after(async () => {
  await respawner.stop();
  await store?.close();
  assert.deepEqual(processesMentioning(root), [], 'nothing of the box is left running');
  await rm(dir, { recursive: true, force: true });
});

describe("the supervisor's own update", () => {
  it('a development run (the bundle in dist/, no respawner) refuses to update itself, and changes nothing', async () => {
    const dev: Run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
    try {
      await dev.waitFor(/ready: Manager at/);
      assert.equal((await ctl('setting', 'set', 'appStoreUrl', store.url)).code, 0);
      const check = await ctl('manager', 'check');
      assert.equal(check.code, 0, check.text);
      assert.equal(check.body.build, null, 'a bundle that is not a package has no build');
      assert.equal(check.body.available, '103');
      assert.match(check.body.refused, /runs from .*dist, not from .*apps\/manager/);
      const update = await ctl('manager', 'update', '--build', '101');
      assert.equal(update.code, 1, update.text);
      assert.equal(update.body.error.code, 'UNSUPPORTED');
      assert.match(update.body.error.message, /only a box's installed supervisor updates itself/);
      assert.deepEqual(await listing(), ['manager']);
    } finally {
      await ensureStopped(dev);
    }
  });

  it('under the respawner, build 101 from the store takes over: the new build serves and keeps build 100 one step back', async (t) => {
    respawner.start();
    const before = await waitForBuild('100');
    assert.equal(before.refused, null);
    assert.equal(before.available, '103');
    const oldPid = (await ctl('status')).body.pid as number;

    const started = Date.now();
    const update = await ctl('manager', 'update', '--build', '101');
    assert.equal(update.code, 0, update.text);
    const after = await waitForBuild('101');
    t.diagnostic(`hand-over: ${Date.now() - started} ms from the command to build 101 answering`);
    assert.equal(after.failed, null);
    const status = (await ctl('status')).body;
    assert.equal(status.label, '101', 'ap ctl status reports the package\'s build');
    assert.notEqual(status.pid, oldPid, 'a new process');
    // Confirmed once ready: no trial left, the previous build kept.
    await until('the update to be confirmed', async () => ((await listing()).includes('manager.trial') ? undefined : true));
    assert.deepEqual(await listing(), ['manager', 'manager.prev']);
    assert.equal(await buildIn('manager'), '101');
    assert.equal(await buildIn('manager.prev'), '100');
  });

  it('refuses a build that is not newer and an update while a job runs, and a tampered package changes nothing', async () => {
    const pid = (await ctl('status')).body.pid as number;
    const same = await ctl('manager', 'update', '--build', '101');
    assert.equal(same.code, 1, same.text);
    assert.equal(same.body.error.code, 'CONFLICT');
    assert.match(same.body.error.message, /build 101 is the one running \(force to install it anyway\)/);

    // The hand-over would cut a running job short: a backup held by its receiver.
    let arrived!: () => void;
    const backupArrived = new Promise<void>((resolve) => (arrived = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const receiver = createServer((req, res) => {
      arrived();
      req.resume();
      req.on('end', () => void released.then(() => res.writeHead(201).end()));
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const backup = await ctl('backup', 'manager', '--url', `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/manager.dump`, '--no-wait');
      assert.equal(backup.body.state, 'running', backup.text);
      await backupArrived;
      const busy = await ctl('manager', 'update', '--build', '103');
      assert.equal(busy.code, 1, busy.text);
      assert.equal(busy.body.error.code, 'CONFLICT');
      assert.match(busy.body.error.message, new RegExp(`job ${backup.body.id} \\(.*\\) is running; update the supervisor once it has ended`));
      release();
      await until('the backup to end', async () => ((await ctl('jobs', backup.body.id)).body.state === 'running' ? undefined : true));
    } finally {
      release();
      receiver.closeAllConnections();
      receiver.close();
    }

    const tampered = await ctl('manager', 'update', '--build', '103');
    assert.equal(tampered.code, 1, tampered.text);
    assert.equal(tampered.body.state, 'failed');
    assert.match(tampered.body.message, /sdk\.js does not match its SHA-256 in the signed manifest/);
    assert.deepEqual(await listing(), ['manager', 'manager.prev'], 'nothing staged, nothing moved');
    const status = (await ctl('status')).body;
    assert.equal(status.pid, pid, 'the supervisor did not restart');
    assert.equal(status.label, '101');
  });

  it('a build that never gets ready: after three attempts the previous build serves again, with the alarm', async () => {
    const update = await ctl('manager', 'update', '--build', '102');
    assert.equal(update.code, 0, update.text);
    const back = await until('build 101 back with the failure', async () => {
      const b = await runningBuild();
      return b?.build === '101' && b.failed ? b : undefined;
    }, 180_000);
    assert.match(back.failed, /build 102 did not get ready within 60 s in 3 attempts; build 101 is back/);
    const alarms = (await ctl('alarms')).body.active as { code: string; severity: string; text: string }[];
    const alarm = alarms.find((a) => a.code === 'MANAGER_UPDATE_FAILED');
    assert.ok(alarm, `the alarm is raised: ${JSON.stringify(alarms)}`);
    assert.match(alarm.text, /build 102 did not get ready.*build 101 is back.*running build 101/);
    assert.equal(alarm.severity, 'major');
    assert.deepEqual(await listing(), ['manager', 'manager.failed']);
    assert.equal(await buildIn('manager'), '101');
    const status = runAp(['ctl', 'status', '--root', root]);
    assert.equal((await status.exited)[0], 0, status.output.text);
    assert.match(status.output.text, /version: +\S+ \(build 101\)\n[\s\S]*update: +FAILED: build 102 did not get ready .* build 101 is back \(alarm MANAGER_UPDATE_FAILED\)/);
    const out = await readFile(join(root, 'mnt/sda2/log/apps/manager/manager.out'), 'utf8');
    assert.equal(out.match(/broken build: cannot start/g)?.length, 3, 'three attempts');
  });
});
