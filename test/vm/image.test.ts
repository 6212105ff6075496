// The real x86_64 image end to end, in QEMU: tools/image/build.mjs makes
// images N and N+1 (signed, in a store this test serves) and N's installation
// medium; the rescue system installs N on a blank disk; the disk boots through
// GRUB into a healthy supervisor; an app from the store gets an instance and a
// row in its database; the Manager API updates the box to N+1 (download,
// verify, stage, reboot into the rescue, apply, reboot, confirm), and the row
// and the instance are still there. Each phase prints its time.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair } from '../../src/image/sign';
import { publishImage, startImageStore, writeManifest, type ImageStore } from '../../tools/image/lib';
import { publishApp } from '../../tools/store/lib';
import { REPO } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { accel, accelWhy, attach, exited, freePort, probeAccel, sh, startMachine, until, vmUnavailable, withMounted, type Machine } from './qemu';

const skip = vmUnavailable([['mmdebstrap', 'mmdebstrap'], ['debugfs', 'e2fsprogs'], ['dbclient', 'dropbear-bin'], ['zstd', 'zstd'], ['grub-mkimage', 'grub-pc-bin']]);

const N = '130100';
const N1 = '130101';
/** The next good image: updated to with the power cut again and again. */
const N2 = '130102';
/** An image whose supervisor never gets ready (its node binary fails): rolled back. */
const BAD = '130103';
const PASSWORD = 'Vm-update-7qX';

let dir: string;
let store: ImageStore;
let vm: Machine | undefined;
let disk: string;
let key: string;
let ports: { app: number; manager: number; ssh: number };
/** What the tests before have left: each one needs the one before it to have passed. */
let installed = false;
let running = false;
let updated = false;
let cutsDone = false;
let rolledBack = false;
const phases: string[] = [];

/** Runs `fn` as a named phase and records its time. */
async function phase<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    const line = `${name}: ${((Date.now() - started) / 1000).toFixed(0)} s`;
    phases.push(line);
    console.log(`phase ${line}`);
  }
}

function build(label: string, secret: string, extra: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO, 'tools/image/build.mjs'), '--board', 'x86_64', '--label', label, '--out', join(dir, label), '--key', secret, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    child.once('exit', (code) => {
      console.log(log.split('\n').filter((l) => l.startsWith('image:')).join('\n'));
      if (code === 0) resolve();
      else reject(new Error(`build.mjs ${label}: exit ${code}\n${log.slice(-4000)}`));
    });
  });
}

/** What undici's "fetch failed" hides: the cause (ECONNRESET, other side closed, …). */
const describeCause = (err: unknown): string => {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause ? `${cause.code ?? ''} ${cause.message ?? ''}`.trim() : (err as Error).message;
};

/** The Manager API with a session, as the Manager UI uses it. */
class Manager {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}
  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    // QEMU's user network under TCG on a loaded machine has reset a connection now and
    // then ("fetch failed"); a GET is asked again (said so in the output), anything else not.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, body);
      } catch (err) {
        if (method !== 'GET' || attempt >= 3 || !/fetch failed/.test((err as Error).message)) throw err;
        console.log(`vm: GET ${path} failed (${describeCause(err)}); asking again (${attempt} of 2)`);
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }
  private async once(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.base}/manager/api${path}`, {
      method,
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...(this.csrf ? { 'x-csrf-token': this.csrf } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), origin: this.base },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const cookie = res.headers.get('set-cookie');
    if (cookie) this.cookie = cookie.split(';')[0]!;
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  }
  async login(password: string): Promise<any> {
    const answer = await this.call('POST', '/session', { password });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    this.csrf = answer.body.csrf;
    return answer.body;
  }
  /**
   * "Update now", until the image is staged. The job's success is followed at once by the
   * reboot into the rescue: a poll may find it succeeded, or find the supervisor gone (no
   * answer, or 503 while it stops) or already another one (401: the sessions went with it).
   */
  async update(limitMs: number, machine: Machine, detail = (): string => ''): Promise<void> {
    const started = await this.call('POST', '/update', {});
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const staged = await until(`job ${started.body.id} or the reboot`, limitMs, async () => {
      const answer = await this.call('GET', `/jobs/${started.body.id}`).catch(() => undefined);
      if (answer === undefined || answer.status === 401 || answer.status === 503) return 'rebooting';
      return answer.body.state === 'running' ? undefined : answer.body;
    }, machine.process);
    if (staged !== 'rebooting' && staged.state !== 'succeeded') assert.fail(`the update job ended ${staged.state}: ${JSON.stringify(staged)}${detail()}`);
  }

  async job(started: { status: number; body: any }, limitMs: number, machine?: Machine): Promise<any> {
    assert.equal(started.status, 202, JSON.stringify(started.body));
    return until(`job ${started.body.id}`, limitMs, async () => {
      const job = (await this.call('GET', `/jobs/${started.body.id}`)).body;
      if (job.state === 'running') return undefined;
      return job;
    }, machine?.process);
  }
}

const health = async (): Promise<true | undefined> => {
  const res = await fetch(`http://127.0.0.1:${ports.app}/manager/health`, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status === 200 ? true : undefined;
};

/** The end of the supervisor's log on the box, for a failure's message (empty when SSH does not answer). */
const managerLog = (): string => {
  try {
    return ssh('tail -n 60 /mnt/sda2/log/apps/manager/manager.log');
  } catch (err) {
    return `(not read: ${(err as Error).message.split('\n')[0]})`;
  }
};

/**
 * The error a failed step throws: what failed, the console's and manager.log's
 * tails, and what failed once more at the end (CI keeps only the output's end).
 */
async function failedIn(machine: Machine, err: unknown): Promise<Error> {
  const what = `${(err as Error).message} (${describeCause(err)})`;
  return new Error(`${what}\n${await machine.tail()}\n--- manager.log ---\n${managerLog()}\n--- what failed: ${what}`);
}

const ssh = (command: string): string => sh('dbclient', ['-y', '-y', '-i', key, '-p', String(ports.ssh), 'root@127.0.0.1', command]);
const psql = (db: string, sql: string): string => ssh(`su -s /bin/sh postgres -c "psql -h /var/run/postgresql -At -d ${db} -c \\"${sql}\\""`).trim();

before(async () => {
  if (skip) return;
  dir = await workspace('ap-vm-image-');
  const pair = await generateKeyPair();
  await writeFile(join(dir, 'release.key'), `${pair.secretKey}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'release.pub'), `${pair.publicKey}\n`);
  const storeRoot = join(dir, 'store');
  await phase(`build images ${N} (with its installation medium), ${N1}, ${N2} and ${BAD}`, async () => {
    await build(N, join(dir, 'release.key'), ['--installer', join(dir, 'install.ext4'), '--publish', storeRoot]);
    await build(N1, join(dir, 'release.key'));
    await build(N2, join(dir, 'release.key'));
    await build(BAD, join(dir, 'release.key'));
    await breakSupervisor(join(dir, BAD), BAD, pair.secretKey);
  });
  await probeAccel(join(dir, N, 'kernel'));
  await publishApp(storeRoot, join(REPO, 'docs/examples/hello'), { build: '100001', arch: 'any', under: 'x86_64', key: pair.secretKey, title: 'Hello', manufacturer: 'Tests' });
  store = await startImageStore(storeRoot);
  ports = { app: await freePort(), manager: await freePort(), ssh: await freePort() };
  key = join(dir, 'id_ed25519');
  sh('dropbearkey', ['-t', 'ed25519', '-f', key]);
});

after(async () => {
  await vm?.kill();
  await store?.close();
  console.log(`vm image phases (${accelWhy()}):\n  ${phases.join('\n  ')}`);
  // AP_VM_KEEP=1 keeps the disk, the images and every console log for a look afterwards.
  if (dir && process.env.AP_VM_KEEP) console.log(`vm image: kept ${dir}`);
  else if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the x86_64 image in QEMU', { skip: skip ?? false }, () => {
  it('installs on a blank disk from the installation medium: layout, GRUB, rootfs, first supervisor on p2', { timeout: 30 * 60_000 }, async () => {
    disk = join(dir, 'disk.raw');
    sh('truncate', ['-s', '3G', disk]);
    const image = join(dir, N);
    vm = startMachine({ disk, medium: join(dir, 'install.ext4'), kernel: join(image, 'kernel'), initrd: join(image, 'ramdisk.ext2.xz'), append: 'ap.after=poweroff', consoleLog: join(dir, 'install.log'), noReboot: true });
    await phase('install from the medium', async () => {
      const limit = setTimeout(() => void vm!.kill(), 20 * 60_000);
      await vm!.exit;
      clearTimeout(limit);
    });
    const installLog = await vm.console();
    assert.match(installLog, /install done/, await vm.tail());
    assert.match(installLog, /powering off/);

    const attached = attach(disk);
    try {
      const table = JSON.parse(sh('sfdisk', ['--json', attached.device])).partitiontable.partitions;
      assert.deepEqual(table.map((p: { type: string }) => p.type), ['83', '83', '83', '82']);
      assert.equal(sh('blkid', ['-o', 'value', '-s', 'TYPE', attached.part(1)]).trim(), 'ext2');
      // GRUB's boot code in the MBR (the table after it untouched), its core image from sector 1.
      const mbr = readFileSync(attached.device).subarray(0, 512 * 2);
      const bootImg = readFileSync('/usr/lib/grub/i386-pc/boot.img');
      assert.ok(mbr.subarray(0, 0x5a).equals(bootImg.subarray(0, 0x5a)), 'boot.img is in the MBR');
      assert.equal(mbr.readUInt16LE(510), 0xaa55);
      withMounted(attached, 1, join(dir, 'p1'), () => {
        assert.equal(readFileSync(join(dir, 'p1/label'), 'utf8').trim(), N);
        for (const f of ['kernel', 'ramdisk.ext2.xz', 'rootfs.img']) assert.ok(existsSync(join(dir, 'p1', f)), f);
        assert.match(readFileSync(join(dir, 'p1/grub/grub.cfg'), 'utf8'), /^set default=1$/m);
      });
      assert.match(sh('debugfs', ['-R', 'cat /etc/ap-image-label', attached.part(3)]), new RegExp(N));
      // p2: the first supervisor, and the test's SSH key where root's .ssh points (it survives updates).
      await execMount(attached.part(2), join(dir, 'p2'), async () => {
        assert.ok(existsSync(join(dir, 'p2/apps/manager/ap.js')), 'the supervisor is on p2');
        assert.match(readFileSync(join(dir, 'p2/ramdisk.log'), 'utf8'), /install done/);
        const pub = sh('dropbearkey', ['-y', '-f', key]).split('\n').find((l) => l.startsWith('ssh-ed25519'))!;
        await mkdir(join(dir, 'p2/home/root/.ssh'), { recursive: true, mode: 0o700 });
        await writeFile(join(dir, 'p2/home/root/.ssh/authorized_keys'), `${pub}\n`, { mode: 0o600 });
      });
    } finally {
      attached.detach();
    }
    installed = true;
  });

  it('boots the disk through GRUB to a healthy supervisor; an app from the store gets an instance with a row', { timeout: 30 * 60_000 }, async () => {
    assert.ok(installed, 'the install test passed');
    vm = startMachine({ disk, ports, consoleLog: join(dir, 'console.log') });
    const machine = vm;
    try {
      // The OS alone (init's scripts done: PostgreSQL started) as the reference for the supervisor's own start.
      const poweredOn = Date.now();
      let osUp = 0;
      const watchOs = setInterval(() => void machine.console().then((text) => {
        if (!osUp && /server started/.test(text)) osUp = Date.now();
      }), 250);
      await phase('power-on to /manager/health 200 (GRUB, ramdisk as initramfs, rootfs)', () => until('/manager/health 200', 15 * 60_000, health, machine.process)).finally(() => clearInterval(watchOs));
      const ready = Date.now();
      if (osUp) console.log(`bench: power-on to the OS up (PostgreSQL started) ${((osUp - poweredOn) / 1000).toFixed(1)} s, to READY (health 200) ${((ready - poweredOn) / 1000).toFixed(1)} s: the supervisor's start ${((ready - osUp) / 1000).toFixed(1)} s (${accel()})`);
      const manager = new Manager(`http://127.0.0.1:${ports.manager}`);
      await phase('Manager: password, store, app, instance, row', async () => {
        const first = await manager.login('pwd');
        assert.equal(first.mustChangePassword, true);
        assert.equal((await manager.call('POST', '/password', { current: 'pwd', password: PASSWORD })).status, 200);
        await manager.login(PASSWORD);
        const url = store.url.replace('127.0.0.1', '10.0.2.2');
        assert.equal((await manager.call('PUT', '/settings/appStoreUrl', { value: url })).status, 200);
        const installed = await manager.job(await manager.call('POST', '/store/apps/hello/install', {}), 10 * 60_000, machine);
        assert.equal(installed.state, 'succeeded', JSON.stringify(installed));
        const created = await manager.call('POST', '/instances', { service: 'hello', name: 'hello1', domain: 'example.com', password: 'instance-pw-1', dbName: 'hello1db' });
        assert.ok(created.status === 200 || created.status === 201, JSON.stringify(created.body));
        await until('the instance to run', 5 * 60_000, async () => {
          const list = (await manager.call('GET', '/instances')).body.instances;
          return list.find((i: any) => i.name === 'hello1' && i.state === 'running') ? true : undefined;
        }, machine.process);
        // The service runs in a cgroup of its own with its limit: cgroup v2 here (rcS mounts it;
        // the machine that runs the other tiers has v1, so this is where v2 is proven).
        const service = (await manager.call('GET', '/services/hello')).body;
        assert.equal(service.limits.enforced, true, JSON.stringify(service.limits));
        assert.ok(service.usage?.memoryBytes > 0 && service.usage.cpuSeconds > 0, JSON.stringify(service.usage));
        assert.equal(ssh('cat /sys/fs/cgroup/ap/hello/memory.max').trim(), String(service.limits.memoryLimitMB * 1048576));
        assert.match(ssh(`cat /proc/${service.pid}/cgroup`), /^0::\/ap\/hello$/m);
        psql('hello1db', 'CREATE TABLE vmtest (note text); INSERT INTO vmtest VALUES (\'written before the update\')');
        assert.equal(psql('hello1db', 'SELECT note FROM vmtest'), 'written before the update');
      });
      const update = await manager.call('GET', '/update');
      assert.equal(update.body.running, N);
      assert.equal(update.body.available, N);
      running = true;
    } catch (err) {
      throw await failedIn(machine, err);
    }
  });

  it(`updates ${N} → ${N1} through the Manager API; the row and the instance are still there`, { timeout: 40 * 60_000 }, async () => {
    assert.ok(running, 'the boot test passed');
    const machine = vm!;
    await publishImage(join(dir, 'store'), join(dir, N1), 'x86_64', N1, true);
    const manager = new Manager(`http://127.0.0.1:${ports.manager}`);
    try {
      await manager.login(PASSWORD);
      const offered = await manager.call('GET', '/update');
      assert.equal(offered.body.available, N1);
      const clicked = Date.now();
      await manager.update(20 * 60_000, machine);
      // The box reboots into the rescue: the supervisor stops answering (or the rescue has run already).
      await until('the reboot into the rescue', 5 * 60_000, async () => ((await health().catch(() => undefined)) && !(await machine.console()).includes(`applying image ${N1}`) ? undefined : true), machine.process);
      await phase('download, verify, stage, reboot, rescue applies, reboot, READY', () => until(`image ${N1} running`, 30 * 60_000, async () => {
        if (!(await health())) return undefined;
        // The rescue has no HTTP: health after the rescue's line is the new system's.
        return (await machine.console()).includes(`applying image ${N1}`) ? true : undefined;
      }, machine.process));
      const confirmed = await phase('READY to confirmed', () => until('the update confirmed', 10 * 60_000, async () => {
        await manager.login(PASSWORD);
        const state = (await manager.call('GET', '/update')).body;
        return state.running === N1 && state.journal.length === 0 ? state : undefined;
      }, machine.process));
      console.log(`bench: update ${N} → ${N1}, click to confirmed ${((Date.now() - clicked) / 1000).toFixed(0)} s, of which READY to confirmed is the supervisor's --confirm-after wait (60 s) (${accel()})`);
      assert.equal(confirmed.running, N1);
      assert.match(ssh('cat /etc/ap-image-label'), new RegExp(N1));
      assert.equal(psql('hello1db', 'SELECT note FROM vmtest'), 'written before the update');
      const instance = await until('the instance to run again', 5 * 60_000, async () => {
        const list = (await manager.call('GET', '/instances')).body.instances;
        return list.find((i: any) => i.name === 'hello1' && i.state === 'running');
      }, machine.process);
      assert.ok(instance);
      const ramdiskLog = await (await fetch(`http://127.0.0.1:${ports.app}/manager/ramdisk.log`)).text();
      assert.match(ramdiskLog, new RegExp(`applying image ${N1}`));
      updated = true;
    } catch (err) {
      throw await failedIn(machine, err);
    }
  });
});

/**
 * Makes image `folder` one whose supervisor never gets ready: its rootfs's
 * node exits 1 at once. Everything else, the signature included, is as a
 * good image's (the box cannot tell before it boots it).
 */
async function breakSupervisor(folder: string, label: string, secretKey: string): Promise<void> {
  const ext4 = join(dir, `${label}.ext4`);
  sh('zstd', ['-q', '-d', '-f', join(folder, 'rootfs.img'), '-o', ext4]);
  await writeFile(join(dir, 'node-broken'), '#!/bin/sh\necho "node: broken on purpose by the vm test" >&2\nexit 1\n', { mode: 0o755 });
  sh('debugfs', ['-w', '-R', 'rm /usr/local/bin/node', ext4]);
  sh('debugfs', ['-w', '-R', `write ${join(dir, 'node-broken')} /usr/local/bin/node`, ext4]);
  sh('debugfs', ['-w', '-R', 'sif /usr/local/bin/node mode 0100755', ext4]);
  sh('zstd', ['-q', '-9', '-T0', '-f', ext4, '-o', join(folder, 'rootfs.img')]);
  await rm(ext4);
  await writeManifest(folder, 'x86_64', label, secretKey);
}


interface Cut {
  readonly phase: 'download' | 'staged' | 'rescue' | 'first boot';
  readonly moment: string;
  outcome?: string;
}

/**
 * Where the power is cut during an update: the whole plan with KVM (31 cuts: 12 while
 * downloading, 1 once staged, 16 in the rescue, 2 in the first boots), a short one on
 * TCG (8: each boot there takes minutes); AP_VM_CUTS=all asks for the whole one.
 */
function cutPlan(): { download: number[]; rescue: Array<[RegExp, number, string]>; firstBoot: boolean } {
  const full = accel() === 'kvm' || process.env.AP_VM_CUTS === 'all';
  const writing = /writing \S+rootfs\.img to/;
  return full
    ? {
        download: [0.03, 0.1, 0.18, 0.26, 0.34, 0.42, 0.5, 0.58, 0.66, 0.74, 0.82, 0.9],
        rescue: [
          [/applying image/, 0, 'the rescue starts applying'],
          [/checking the staged files/, 0, 'checking the staged files'],
          [/checking the staged files/, 300, 'during sha256sum -c'],
          [writing, 200, 'rootfs write, 0.2 s in'],
          [writing, 1000, 'rootfs write, 1 s in'],
          [writing, 2500, 'rootfs write, 2.5 s in'],
          [writing, 5000, 'rootfs write, 5 s in'],
          [writing, 9000, 'rootfs write, 9 s in'],
          [/checking \/dev\/sda3/, 0, 'e2fsck of p3 starts'],
          [/checking \/dev\/sda3/, 700, 'during e2fsck of p3'],
          [/checking \/dev\/sda3/, 2000, 'e2fsck of p3, 2 s in'],
          [/putting the kernel, ramdisk and rootfs image/, 0, 'files into place'],
          [/putting the kernel, ramdisk and rootfs image/, 150, 'files into place, 0.15 s in'],
          [/putting the kernel, ramdisk and rootfs image/, 500, 'files into place, 0.5 s in'],
          [/boot control: normal/, 0, 'boot control back to normal'],
          [/update done|auto done/, 0, 'the rescue has finished'],
        ],
        firstBoot: true,
      }
    : {
        download: [0.4],
        rescue: [
          [/applying image/, 0, 'the rescue starts applying'],
          [writing, 1500, 'rootfs write, 1.5 s in'],
          [/checking \/dev\/sda3/, 500, 'during e2fsck of p3'],
          [/putting the kernel, ramdisk and rootfs image/, 0, 'files into place'],
        ],
        firstBoot: true,
      };
}

let boots = 0;
/** Powers the box on (BIOS, GRUB, whatever the boot control says), with a console file of its own. */
function powerOn(): Machine {
  vm = startMachine({ disk, ports, consoleLog: join(dir, `console-${++boots}.log`) });
  return vm;
}

/** Polls `probe` every 150 ms and cuts the power (SIGKILL) when it holds; false when `stop` held first. */
async function cutWhen(machine: Machine, what: string, probe: () => Promise<boolean>, limitMs: number, stop?: () => Promise<boolean>): Promise<boolean> {
  const end = Date.now() + limitMs;
  for (;;) {
    if (await probe().catch(() => false)) break;
    if (stop && (await stop().catch(() => false))) return false;
    if (exited(machine.process)) throw new Error(`QEMU exited before ${what}\n${await machine.tail()}`);
    if (Date.now() > end) throw new Error(`no ${what} after ${limitMs / 1000} s\n${await machine.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  await machine.kill();
  return true;
}

const consoleShows = (machine: Machine, re: RegExp) => async () => re.test(await machine.console());

/** The box is up on one of `labels` with the row intact: what every cut must end in. */
async function upWithRow(machine: Machine, labels: string[], limitMs = 15 * 60_000): Promise<string> {
  await until('/manager/health 200', limitMs, health, machine.process);
  const manager = new Manager(`http://127.0.0.1:${ports.manager}`);
  await until('a Manager login', 2 * 60_000, async () => (await manager.login(PASSWORD)) && true, machine.process);
  const state = (await manager.call('GET', '/update')).body;
  assert.ok(labels.includes(state.running), `running ${state.running}, expected one of ${labels.join(', ')}`);
  assert.equal(psql('hello1db', 'SELECT note FROM vmtest'), 'written before the update');
  // What the filesystems said about the cut: fsck's lines on the console, the kernel's complaints.
  const fsck = (await machine.console()).split('\n').filter((l) => /^(boot|p2|rcS):|e2fsck|fsck/.test(l)).join(' | ');
  const kernel = ssh('dmesg | grep -iE "EXT4-fs (error|warning)|I/O error" | tail -n 3 || true').trim();
  console.log(`  after the cut: ${fsck || 'no fsck lines'}${kernel ? ` | kernel: ${kernel}` : ''}`);
  return state.running;
}

// AP_VM_ONLY=update (tools/bench/vm.mjs) stops after the update: the benchmark's part.
describe('the x86_64 image in QEMU: failures', { skip: skip ?? (process.env.AP_VM_ONLY === 'update' ? 'AP_VM_ONLY=update' : false) }, () => {
  it('kill -9 of the supervisor: init brings it back; PostgreSQL and the app service are not left twice', { timeout: 20 * 60_000 }, async () => {
    assert.ok(updated, 'the update test passed');
    const machine = vm!;
    const first = ssh('cat /var/run/ap.pid').trim();
    const killed = Date.now();
    ssh(`kill -9 ${first}`);
    await until('a new supervisor', 10 * 60_000, async () => {
      const pid = ssh('cat /var/run/ap.pid').trim();
      return pid && pid !== first ? pid : undefined;
    }, machine.process);
    await until('/manager/health 200 again', 10 * 60_000, health, machine.process);
    const manager = new Manager(`http://127.0.0.1:${ports.manager}`);
    await manager.login(PASSWORD);
    await until('the instance to run again', 5 * 60_000, async () => {
      const list = (await manager.call('GET', '/instances')).body.instances;
      return list.find((i: any) => i.name === 'hello1' && i.state === 'running');
    }, machine.process);
    console.log(`kill -9: healthy again ${((Date.now() - killed) / 1000).toFixed(0)} s after the kill`);
    const ps = ssh('busybox ps -o pid,ppid,args');
    const postmasters = ps.split('\n').filter((l) => /postgres -D|bin\/postgres\b.*-D/.test(l));
    assert.equal(postmasters.length, 1, ps);
    const services = ps.split('\n').filter((l) => /service\.js/.test(l));
    assert.equal(services.length, 1, `one hello service process:\n${ps}`);
    assert.equal(psql('hello1db', 'SELECT note FROM vmtest'), 'written before the update');
  });

  it(`power cuts all through an update ${N1} → ${N2}: the box always comes up by itself, row intact`, { timeout: 90 * 60_000 }, async () => {
    assert.ok(updated, 'the update test passed');
    const plan = cutPlan();
    const cuts: Cut[] = [];
    await publishImage(join(dir, 'store'), join(dir, N2), 'x86_64', N2, true);
    let machine = vm!;
    const manager = new Manager(`http://127.0.0.1:${ports.manager}`);
    try {
      await phase('power cuts while downloading and staging', async () => {
        for (const fraction of plan.download) {
          await manager.login(PASSWORD);
          const started = await manager.call('POST', '/update', {});
          assert.equal(started.status, 202, JSON.stringify(started.body));
          const job = async (): Promise<any> => (await manager.call('GET', `/jobs/${started.body.id}`)).body;
          const cut = await cutWhen(machine, `${fraction * 100}% downloaded`, async () => {
            const j = await job();
            return j.state === 'running' && j.progress && j.progress.total > 1 && j.progress.done / j.progress.total >= fraction;
          }, 10 * 60_000, async () => (await job()).state !== 'running');
          if (!cut) break; // staged before that fraction: the next cut comes at the reboot
          const record: Cut = { phase: 'download', moment: `${Math.round(fraction * 100)}% downloaded` };
          cuts.push(record);
          machine = powerOn();
          record.outcome = `came up on ${await upWithRow(machine, [N1])}`;
        }
        // The last try stages it all; the power goes as the box reboots into the rescue.
        await manager.login(PASSWORD);
        await manager.update(20 * 60_000, machine, () => `\n${ssh('dmesg | tail -n 20; tail -n 20 /var/log/apps/manager/manager.log')}`);
        await machine.kill();
        cuts.push({ phase: 'staged', moment: 'staged, rebooting into the rescue', outcome: 'see the next boot' });
      });
      await phase('power cuts in the rescue system', async () => {
        machine = powerOn();
        let restaged = 0;
        let from = 0; // where this boot's console starts counting (after a staging again, the rescue's second run)
        for (let i = 0; i < plan.rescue.length; i++) {
          const [marker, delay, moment] = plan.rescue[i]!;
          const normal = /S01bootcheck: boot|Starting PostgreSQL/;
          const cut = await cutWhen(machine, moment, async () => {
            const text = (await machine.console()).slice(from);
            const m = marker.exec(text);
            if (!m) return false;
            if (delay === 0) return true;
            await new Promise((resolve) => setTimeout(resolve, delay));
            return true;
          }, 15 * 60_000, async () => normal.test((await machine.console()).slice(from)));
          if (!cut && /staged image \d+ is damaged; nothing was changed/.test((await machine.console()).slice(from))) {
            // A cut before this boot spoiled the staged files on p1 (ext2, no journal; e2fsck
            // repaired it): the rescue checked them, changed nothing and booted the running
            // image, which must come up and say so. Then the update is staged again and the
            // plan goes on from this moment.
            assert.ok(++restaged <= 2, 'the staging was spoiled by a cut three times');
            const previous = cuts.at(-1)!;
            previous.outcome = `the staged files were damaged: the rescue changed nothing and booted ${N1}`;
            assert.equal(await upWithRow(machine, [N1]), N1);
            await manager.login(PASSWORD);
            const active = JSON.stringify((await manager.call('GET', '/alarms')).body.active);
            assert.match(active, /UPDATE_FAILED[^}]*staged files were damaged|staged files were damaged[^}]*UPDATE_FAILED/, active);
            from = (await machine.console()).length;
            await manager.update(20 * 60_000, machine, () => `\n${ssh('dmesg | tail -n 20; tail -n 20 /var/log/apps/manager/manager.log')}`);
            i--;
            continue;
          }
          if (!cut) break; // the rescue finished before this moment
          const previous = cuts.at(-1);
          if (previous && !previous.outcome?.startsWith('came up')) previous.outcome = 'the next boot went on with the update by itself';
          cuts.push({ phase: 'rescue', moment });
          machine = powerOn();
          from = 0;
        }
        const previous = cuts.at(-1)!;
        previous.outcome = 'the next boot went on with the update by itself';
      });
      await phase('power cuts in the first boots of the new image', async () => {
        // Boot 1 of the new image: cut as its init scripts run.
        await cutWhen(machine, `boot 1 of image ${N2}`, consoleShows(machine, new RegExp(`S01bootcheck: boot 1 of image ${N2}`)), 20 * 60_000);
        const one: Cut = { phase: 'first boot', moment: `boot 1 of ${N2}, init scripts` };
        cuts.push(one);
        machine = powerOn();
        // Boot 2: cut once it is READY but before it confirmed the image.
        await until('/manager/health 200', 15 * 60_000, health, machine.process);
        await machine.kill();
        one.outcome = 'booted the new image again';
        const two: Cut = { phase: 'first boot', moment: `boot 2 of ${N2}, READY, not yet confirmed` };
        cuts.push(two);
        machine = powerOn();
        await upWithRow(machine, [N1, N2]);
        two.outcome = 'booted the new image again';
      });
      await phase(`boot 3 of ${N2} to confirmed`, async () => {
        await manager.login(PASSWORD);
        const confirmed = await until('the update confirmed', 10 * 60_000, async () => {
          await manager.login(PASSWORD);
          const state = (await manager.call('GET', '/update')).body;
          return state.running === N2 && state.journal.length === 0 ? state : undefined;
        }, machine.process);
        assert.equal(confirmed.running, N2);
        assert.equal(await upWithRow(machine, [N2]), N2);
        cuts.at(-1)!.outcome = `came up on ${N2}, confirmed`;
      });
    } finally {
      const byPhase = new Map<string, number>();
      for (const c of cuts) byPhase.set(c.phase, (byPhase.get(c.phase) ?? 0) + 1);
      console.log(`power cuts (${accel() === 'kvm' || process.env.AP_VM_CUTS === 'all' ? 'the whole plan' : `the short plan: ${accelWhy()}; AP_VM_CUTS=all runs the whole one`}): ${cuts.length} — ${[...byPhase].map(([p, n]) => `${p} ${n}`).join(', ')}`);
      for (const c of cuts) console.log(`  ${c.phase.padEnd(10)} ${c.moment.padEnd(42)} → ${c.outcome ?? 'no outcome (the test failed there)'}`);
    }
    assert.ok(cuts.every((c) => c.outcome), 'every cut has an outcome');
    cutsDone = true;
  });

  it(`an image whose supervisor never gets ready (${BAD}): three boots, then the rescue restores ${N2} and the Manager raises the alarm`, { timeout: 60 * 60_000 }, async () => {
    assert.ok(cutsDone, 'the power cut test passed');
    let machine = vm!;
    // A shorter wait for confirmation than a box's 900 s: the bad image never gets there,
    // and nothing else boots awaiting confirmation until the test removes the file.
    ssh('echo CONFIRM_WAIT=45 > /mnt/sda1/bootcheck.conf && sync');
    await publishImage(join(dir, 'store'), join(dir, BAD), 'x86_64', BAD, true);
    const manager = new Manager(`http://127.0.0.1:${ports.manager}`);
    await manager.login(PASSWORD);
    await manager.update(20 * 60_000, machine);
    await phase(`${BAD}: three boots that never get ready, the rescue's rollback, ${N2} up`, async () => {
      const text = async () => machine.console();
      await until(`the rollback to ${N2}`, 50 * 60_000, async () => {
        const log = await text();
        return /did not come up in 3 boots/.test(log) && (await health()) ? true : undefined;
      }, machine.process);
    });
    const log = await machine.console();
    for (const n of [1, 2, 3]) assert.match(log, new RegExp(`S01bootcheck: boot ${n} of image ${BAD}`));
    assert.match(log, new RegExp(`image ${BAD} did not boot; restoring the previous image`));
    await manager.login(PASSWORD);
    const state = await until('the rollback reported', 5 * 60_000, async () => {
      const s = (await manager.call('GET', '/update')).body;
      return s.running === N2 ? s : undefined;
    }, machine.process);
    assert.equal(state.running, N2);
    // The supervisor reports the rollback once it has been READY for --confirm-after (60 s).
    const alarms = await until('the alarm UPDATE_FAILED', 5 * 60_000, async () => {
      await manager.login(PASSWORD);
      const body = (await manager.call('GET', '/alarms')).body;
      return /UPDATE_FAILED/.test(JSON.stringify(body)) ? body : undefined;
    }, machine.process);
    assert.match(JSON.stringify(alarms.active), new RegExp(`UPDATE_FAILED[^}]*${BAD}|${BAD}[^}]*UPDATE_FAILED`));
    assert.match(ssh('cat /etc/ap-image-label'), new RegExp(N2));
    assert.equal(psql('hello1db', 'SELECT note FROM vmtest'), 'written before the update');
    ssh('rm -f /mnt/sda1/bootcheck.conf && sync');
    rolledBack = true;
  });

  it('resize: after the virtual disk grew, the technician command grows p2 with its data', { timeout: 30 * 60_000 }, async () => {
    assert.ok(rolledBack, 'the rollback test passed');
    const before = Number(ssh("df -k /mnt/sda2 | tail -n 1 | awk '{print $2}'"));
    ssh('poweroff');
    await vm!.exit;
    sh('truncate', ['-s', '+1G', disk]);
    const image = join(dir, N);
    const rescue = startMachine({ disk, kernel: join(image, 'kernel'), initrd: join(image, 'ramdisk.ext2.xz'), append: 'ap.mode=resize ap.after=poweroff', consoleLog: join(dir, 'resize.log'), noReboot: true });
    await phase('resize in the rescue system', async () => {
      const limit = setTimeout(() => void rescue.kill(), 15 * 60_000);
      await rescue.exit;
      clearTimeout(limit);
    });
    assert.match(await rescue.console(), /resize done/, await rescue.tail());
    const machine = powerOn();
    await phase('boot after the resize', () => upWithRow(machine, [N2]));
    const after = Number(ssh("df -k /mnt/sda2 | tail -n 1 | awk '{print $2}'"));
    assert.ok(after > before + 900 * 1024, `p2 grew: ${before} → ${after} KiB`);
  });
});

/** Mounts `device` read-write at `where` for `fn`, then unmounts. */
function execMount(device: string, where: string, fn: () => Promise<void>): Promise<void> {
  sh('mkdir', ['-p', where]);
  sh('mount', [device, where]);
  return fn().finally(() => sh('umount', [where]));
}
