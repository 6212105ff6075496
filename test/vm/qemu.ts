// The vm tier's machinery: the rescue ramdisk built (or taken from its cache),
// a QEMU x86_64 machine booted with it on a raw disk file, and the disk file
// read afterwards through a loop device.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { commandMissing } from '../harness/optional';
import { REPO } from '../harness/supervisor';

export const QEMU = 'qemu-system-x86_64';

/**
 * Why the vm tests cannot run here, or null: root, QEMU and the tools that
 * build the ramdisk and read the disk, and the `extra` commands a test needs
 * besides ([command, the package to install]).
 */
export function vmUnavailable(extra: readonly (readonly [string, string])[] = []): string | null {
  if (process.getuid?.() !== 0) return 'needs root (loop devices, chroot)';
  if (!existsSync('/dev/loop-control')) return 'needs loop devices (no /dev/loop-control)';
  const tools: [string, string][] = [[QEMU, 'qemu-system-x86'], ['apt-get', 'apt'], ['dpkg-deb', 'dpkg'], ['losetup', 'util-linux'], ['partx', 'util-linux'], ['sfdisk', 'fdisk'], ['blkid', 'util-linux']];
  for (const [command, pkg] of [...tools, ...extra]) {
    const why = commandMissing(command, `apt-get install ${pkg}`);
    if (why) return why;
  }
  return null;
}

export interface Built {
  readonly kernel: string;
  readonly ramdisk: string;
  readonly kernelVersion: string;
  readonly ramdiskBytes: number;
  readonly cached: boolean;
  readonly seconds: number;
}

/** tools/image/ramdisk.mjs's build, cached in AP_IMAGE_CACHE or /var/cache/ap-image. */
export async function ramdisk(): Promise<Built> {
  const { buildRamdisk } = (await import(pathToFileURL(join(REPO, 'tools/image/ramdisk-lib.mjs')).href)) as { buildRamdisk: (o: object) => Promise<Built> };
  return buildRamdisk({ board: 'x86_64', cache: process.env.AP_IMAGE_CACHE ?? '/var/cache/ap-image' });
}

export interface Boot {
  /** The serial console, all of it. */
  readonly console: string;
  /** True when the machine powered itself off; false when the test's limit killed it. */
  readonly poweredOff: boolean;
  readonly seconds: number;
}

let probed: { readonly accel: 'kvm' | 'tcg'; readonly why: string } | null = null;

/** KVM when this machine has it and it boots a kernel (probeAccel), else QEMU's emulation (TCG). */
export const accel = (): 'kvm' | 'tcg' => probed?.accel ?? (existsSync('/dev/kvm') ? 'kvm' : 'tcg');

/** Why accel() is what it is, for the logs. */
export const accelWhy = (): string => probed?.why ?? (existsSync('/dev/kvm') ? 'KVM' : 'TCG: no /dev/kvm');

/**
 * Whether KVM really runs a guest here: a /dev/kvm may be there and still
 * not boot a kernel (a nested or restricted one: SeaBIOS runs, the kernel
 * never prints). Boots `kernel` under KVM until it says "Linux version" (at
 * most 20 s); TCG from then on in this process when it does not.
 */
export async function probeAccel(kernel: string): Promise<'kvm' | 'tcg'> {
  if (probed) return probed.accel;
  if (!existsSync('/dev/kvm')) return (probed = { accel: 'tcg', why: 'TCG: no /dev/kvm' }).accel;
  const qemu = spawn(QEMU, ['-machine', 'q35', '-accel', 'kvm', '-cpu', 'host', '-m', '128', '-kernel', kernel, '-append', 'console=ttyS0 earlyprintk=ttyS0 panic=-1', '-nographic', '-monitor', 'none', '-no-reboot', '-nic', 'none'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const booted = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 20_000);
    qemu.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Linux version')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    qemu.once('exit', () => {
      clearTimeout(timer);
      resolve(out.includes('Linux version'));
    });
  });
  if (qemu.exitCode === null) {
    const gone = new Promise((resolve) => qemu.once('exit', resolve));
    qemu.kill('SIGKILL');
    await gone;
  }
  probed = booted ? { accel: 'kvm', why: 'KVM' } : { accel: 'tcg', why: 'TCG: /dev/kvm is there but did not boot a kernel in 20 s' };
  return probed.accel;
}

/**
 * Boots kernel + ramdisk with `disk` as the q35 machine's first SATA disk
 * (/dev/sda, as on the x86_64 board) and `append` on the kernel command line;
 * the serial console is read from QEMU's stdout. Each `[expect, send]` of
 * `dialog` in turn: when the console shows `expect` (after the previous one),
 * `send` is typed. Resolves when QEMU exits, or kills it by PID after `limitMs`.
 */
export function boot(built: Built, disk: string, append: string, limitMs: number, dialog: Array<[RegExp, string]> = []): Promise<Boot> {
  const started = Date.now();
  const args = [
    '-machine', 'q35', '-accel', accel(), '-m', '512', '-smp', '1',
    '-kernel', built.kernel, '-initrd', built.ramdisk,
    '-append', `console=ttyS0 panic=-1 ${append}`,
    '-drive', `file=${disk},format=raw,if=ide`,
    '-nographic', '-monitor', 'none', '-serial', 'stdio', '-no-reboot', '-nic', 'none',
  ];
  const qemu = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let seen = 0;
  const steps = [...dialog];
  qemu.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const step = steps[0];
    const match = step && step[0].exec(out.slice(seen));
    if (step && match) {
      seen += match.index + match[0].length;
      steps.shift();
      qemu.stdin.write(step[1]);
    }
  });
  qemu.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  let killed = false;
  const limit = setTimeout(() => {
    killed = true;
    if (qemu.pid) process.kill(qemu.pid, 'SIGKILL');
  }, limitMs);
  return new Promise((resolve, reject) => {
    qemu.once('error', (err) => {
      clearTimeout(limit);
      reject(err);
    });
    qemu.once('exit', () => {
      clearTimeout(limit);
      resolve({ console: out, poweredOff: !killed, seconds: (Date.now() - started) / 1000 });
    });
  });
}

export interface Attached {
  readonly device: string;
  /** /dev/loopNpK */
  part(n: number): string;
  detach(): void;
}

/** The disk file on a loop device with its partitions (losetup -P; partx where no udev made the nodes). */
export function attach(file: string): Attached {
  const device = execFileSync('losetup', ['-P', '--find', '--show', file], { encoding: 'utf8' }).trim();
  const part = (n: number) => `${device}p${n}`;
  if (!existsSync(part(1))) spawnSync('partx', ['-a', device]);
  return {
    device,
    part,
    detach() {
      spawnSync('partx', ['-d', device]);
      spawnSync('losetup', ['-d', device]);
    },
  };
}

/** Runs `fn` with partition `n` of `disk` mounted read-only, and unmounts. */
export function withMounted<T>(disk: Attached, n: number, where: string, fn: () => T): T {
  execFileSync('mkdir', ['-p', where]);
  execFileSync('mount', ['-o', 'ro', disk.part(n), where]);
  try {
    return fn();
  } finally {
    spawnSync('umount', [where]);
  }
}

const MB = 1024 * 1024;

/** Runs a host command; its stdout, or an error with its stderr. */
export function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 64 * MB });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

/** A free TCP port on the loopback interface (for QEMU's forwards). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether `child` has exited (a signal sets signalCode, not exitCode). */
export const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** Polls `probe` every 2 s until it gives a value; fails after `limitMs` or when the machine `vm` has exited. */
export async function until<T>(what: string, limitMs: number, probe: () => Promise<T | undefined>, vm?: ChildProcess): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (vm && exited(vm)) throw new Error(`QEMU exited (${vm.exitCode ?? vm.signalCode}) while waiting for ${what}`);
    if (Date.now() > end) throw new Error(`no ${what} after ${limitMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

export interface MachineOptions {
  /** The raw disk file: /dev/sda (virtio-scsi, as a hypervisor's disk). */
  readonly disk: string;
  /** A second raw disk (/dev/vda, virtio-blk): the installation medium. */
  readonly medium?: string;
  /** Boot this kernel and initrd with `append` (an installer's boot); without, the BIOS boots the disk (GRUB). */
  readonly kernel?: string;
  readonly initrd?: string;
  readonly append?: string;
  /** Host ports forwarded to the box's 80 (apps), 8080 (Manager) and 22 (SSH). */
  readonly ports?: { readonly app: number; readonly manager: number; readonly ssh: number };
  /** The serial console is written here. */
  readonly consoleLog: string;
  /** Exit instead of rebooting (the install's boot); default: a reboot restarts the machine in the same process. */
  readonly noReboot?: boolean;
}

export interface Machine {
  readonly process: ChildProcess;
  /** QEMU's stderr and the console's last lines, for a failure's message. */
  tail(): Promise<string>;
  /** The whole console so far. */
  console(): Promise<string>;
  /** Resolves when QEMU has exited. */
  readonly exit: Promise<void>;
  /** A power cut: SIGKILL, then waits for the exit. */
  kill(): Promise<void>;
}

/** Starts the x86_64 board as a VM: q35, 512 MB, 2 CPUs, KVM when there is /dev/kvm, else TCG. */
export function startMachine(o: MachineOptions): Machine {
  const kvm = accel() === 'kvm';
  const args = [
    '-machine', `q35,accel=${kvm ? 'kvm' : 'tcg'}`, '-cpu', kvm ? 'host' : 'max', '-m', '512', '-smp', '2',
    '-display', 'none', '-serial', `file:${o.consoleLog}`, '-monitor', 'none',
    '-device', 'virtio-scsi-pci,id=scsi',
    '-drive', `file=${o.disk},format=raw,if=none,id=d0,cache=writeback`, '-device', `scsi-hd,drive=d0,bus=scsi.0,scsi-id=0,lun=0${o.kernel ? '' : ',bootindex=0'}`,
  ];
  // The medium on virtio-blk (/dev/vda): two SCSI disks may be named in either order.
  if (o.medium) args.push('-drive', `file=${o.medium},format=raw,if=none,id=d1,readonly=on`, '-device', 'virtio-blk-pci,drive=d1');
  if (o.kernel) args.push('-kernel', o.kernel, '-initrd', o.initrd!, '-append', `console=ttyS0 panic=-1 ${o.append ?? ''}`);
  if (o.noReboot) args.push('-no-reboot');
  if (o.ports) {
    const p = o.ports;
    args.push('-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${p.app}-:80,hostfwd=tcp:127.0.0.1:${p.manager}-:8080,hostfwd=tcp:127.0.0.1:${p.ssh}-:22`, '-device', 'virtio-net-pci,netdev=n0');
  } else {
    args.push('-nic', 'none');
  }
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<void>((resolve) => (exited(child) ? resolve() : child.once('exit', () => resolve())));
  const consoleText = () => readFile(o.consoleLog, 'utf8').catch(() => '');
  return {
    process: child,
    exit,
    console: consoleText,
    tail: async () => `${stderr}\n--- console ---\n${(await consoleText()).slice(-6000)}`,
    kill: async () => {
      if (!exited(child)) child.kill('SIGKILL');
      await exit;
    },
  };
}
