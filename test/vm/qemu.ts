// The vm tier's machinery: the rescue ramdisk built (or taken from its cache),
// a QEMU x86_64 machine booted with it on a raw disk file, and the disk file
// read afterwards through a loop device.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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

/** KVM when this machine has it, else QEMU's emulation (TCG). */
export const accel = (): 'kvm' | 'tcg' => (existsSync('/dev/kvm') ? 'kvm' : 'tcg');

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
