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
import { publishImage, startImageStore, type ImageStore } from '../../tools/image/lib';
import { publishApp } from '../../tools/store/lib';
import { REPO } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { accel, attach, freePort, sh, startMachine, until, vmUnavailable, withMounted, type Machine } from './qemu';

const skip = vmUnavailable([['mmdebstrap', 'mmdebstrap'], ['debugfs', 'e2fsprogs'], ['dbclient', 'dropbear-bin'], ['zstd', 'zstd'], ['grub-mkimage', 'grub-pc-bin']]);

const N = '130100';
const N1 = '130101';
const PASSWORD = 'Vm-update-7qX';

let dir: string;
let store: ImageStore;
let vm: Machine | undefined;
let disk: string;
let key: string;
let ports: { app: number; manager: number; ssh: number };
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

/** The Manager API with a session, as the Manager UI uses it. */
class Manager {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}
  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
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

const ssh = (command: string): string => sh('dbclient', ['-y', '-y', '-i', key, '-p', String(ports.ssh), 'root@127.0.0.1', command]);
const psql = (db: string, sql: string): string => ssh(`su -s /bin/sh postgres -c "psql -h /var/run/postgresql -At -d ${db} -c \\"${sql}\\""`).trim();

before(async () => {
  if (skip) return;
  dir = await workspace('ap-vm-image-');
  const pair = await generateKeyPair();
  await writeFile(join(dir, 'release.key'), `${pair.secretKey}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'release.pub'), `${pair.publicKey}\n`);
  const storeRoot = join(dir, 'store');
  await phase(`build images ${N} (with its installation medium) and ${N1}`, async () => {
    await build(N, join(dir, 'release.key'), ['--installer', join(dir, 'install.ext4'), '--publish', storeRoot]);
    await build(N1, join(dir, 'release.key'));
  });
  await publishApp(storeRoot, join(REPO, 'docs/examples/hello'), { build: '100001', arch: 'any', under: 'x86_64', key: pair.secretKey, title: 'Hello', manufacturer: 'Tests' });
  store = await startImageStore(storeRoot);
  ports = { app: await freePort(), manager: await freePort(), ssh: await freePort() };
  key = join(dir, 'id_ed25519');
  sh('dropbearkey', ['-t', 'ed25519', '-f', key]);
});

after(async () => {
  await vm?.kill();
  await store?.close();
  console.log(`vm image phases (${accel() === 'kvm' ? 'KVM' : 'TCG: no /dev/kvm'}):\n  ${phases.join('\n  ')}`);
  if (dir) await rm(dir, { recursive: true, force: true });
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
  });

  it('boots the disk through GRUB to a healthy supervisor; an app from the store gets an instance with a row', { timeout: 30 * 60_000 }, async () => {
    assert.ok(disk, 'the install test ran first');
    vm = startMachine({ disk, ports, consoleLog: join(dir, 'console.log') });
    const machine = vm;
    try {
      await phase('power-on to /manager/health 200 (GRUB, ramdisk as initramfs, rootfs)', () => until('/manager/health 200', 15 * 60_000, health, machine.process));
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
        psql('hello1db', 'CREATE TABLE vmtest (note text); INSERT INTO vmtest VALUES (\'written before the update\')');
        assert.equal(psql('hello1db', 'SELECT note FROM vmtest'), 'written before the update');
      });
      const update = await manager.call('GET', '/update');
      assert.equal(update.body.running, N);
      assert.equal(update.body.available, N);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await machine.tail()}`);
    }
  });

  it(`updates ${N} → ${N1} through the Manager API; the row and the instance are still there`, { timeout: 40 * 60_000 }, async () => {
    assert.ok(vm, 'the boot test ran first');
    const machine = vm;
    await publishImage(join(dir, 'store'), join(dir, N1), 'x86_64', N1, true);
    const manager = new Manager(`http://127.0.0.1:${ports.manager}`);
    try {
      await manager.login(PASSWORD);
      const offered = await manager.call('GET', '/update');
      assert.equal(offered.body.available, N1);
      const clicked = Date.now();
      const started = await manager.call('POST', '/update', {});
      assert.equal(started.status, 202, JSON.stringify(started.body));
      await phase('download, verify, stage, reboot, rescue applies, reboot, READY', () => until(`image ${N1} running`, 30 * 60_000, async () => {
        if (!(await health())) return undefined;
        const log = await machine.console();
        return log.includes('applying image') && /update done|finished/.test(log) ? true : undefined;
      }, machine.process));
      const confirmed = await phase('READY to confirmed', () => until('the update confirmed', 10 * 60_000, async () => {
        await manager.login(PASSWORD);
        const state = (await manager.call('GET', '/update')).body;
        return state.running === N1 && state.journal.length === 0 ? state : undefined;
      }, machine.process));
      console.log(`update: click to confirmed ${((Date.now() - clicked) / 1000).toFixed(0)} s`);
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
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await machine.tail()}`);
    }
  });
});

/** Mounts `device` read-write at `where` for `fn`, then unmounts. */
function execMount(device: string, where: string, fn: () => Promise<void>): Promise<void> {
  sh('mkdir', ['-p', where]);
  sh('mount', [device, where]);
  return fn().finally(() => sh('umount', [where]));
}
