// Disks for the partition tests: image files on loop devices (losetup -P), the
// rescue script run under BusyBox sh against them, p1/p2 mounted in temp dirs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { boardEnv, getBoard } from '../../src/config';
import { missing } from './optional';
import { REPO } from './supervisor';

export const SCRIPT = join(REPO, 'rootfs-scripts/install_step1.sh');
export const BOOTCHECK = join(REPO, 'overlay/etc/init.d/S01bootcheck');

/** Why the loop-device tests cannot run here, or null when they can. */
export function loopUnavailable(): string | null {
  const part = missing('loop') ?? missing('busybox');
  if (part) return part;
  if (!existsSync('/dev/loop-control')) return 'no /dev/loop-control';
  for (const tool of ['busybox', 'sfdisk', 'mkfs.vfat', 'mkfs.ext4', 'losetup', 'debugfs']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing`;
  }
  return null;
}

export interface Disk {
  readonly file: string;
  readonly device: string;
  readonly board: string;
  readonly env: string;
  readonly p1: string;
  readonly p2: string;
  readonly dir: string;
  /** Runs the rescue script; resolves with its status and output. */
  run(mode: string, extraEnv?: Record<string, string>, arg?: string): { status: number | null; out: string };
  /** The text of a file on p3, read with debugfs (no mount). */
  p3File(path: string): string | null;
  unmount(): void;
  detach(): void;
}

/** A blank disk image of `mb` MiB on a loop device, with the board's env for the script. */
export async function blankDisk(dir: string, board: string, mb = 2048, options: { readonly p1Fs?: 'ext2' } = {}): Promise<Disk> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'disk.img');
  execFileSync('truncate', ['-s', `${mb}M`, file]);
  const device = execFileSync('losetup', ['-P', '--find', '--show', file], { encoding: 'utf8' }).trim();
  const env = join(dir, 'board.env');
  const text = boardEnv(getBoard(board as never), { disk: device, partPrefix: `${device}p` });
  await writeFile(env, options.p1Fs ? text.replace(/^P1_FS=.*$/m, `P1_FS='${options.p1Fs}'`) : text);
  const p1 = join(dir, 'p1');
  const p2 = join(dir, 'p2');
  const disk: Disk = {
    file,
    device,
    board,
    env,
    p1,
    p2,
    dir,
    run(mode, extraEnv = {}, arg) {
      const result = spawnSync('busybox', ['sh', SCRIPT, join(dir, 'log.txt'), mode, ...(arg ? [arg] : [])], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', AP_BOARD_ENV: env, MNT_P1: p1, MNT_P2: p2, AP_NO_REBOOT: '1', ...extraEnv },
        timeout: 300_000,
      });
      return { status: result.status, out: `${result.stdout}${result.stderr}` };
    },
    p3File(path) {
      const r = spawnSync('debugfs', ['-R', `cat ${path}`, `${device}p3`], { encoding: 'utf8' });
      return r.status === 0 && r.stdout !== '' ? r.stdout : null;
    },
    unmount() {
      for (const m of [p1, p2]) spawnSync('umount', [m]);
    },
    detach() {
      disk.unmount();
      spawnSync('losetup', ['-d', device]);
    },
  };
  return disk;
}

/** Mounts p1 and p2 of a disk as the normal system has them. */
export function mountSystem(disk: Disk): void {
  for (const [n, at] of [
    [1, disk.p1],
    [2, disk.p2],
  ] as const) {
    if (spawnSync('grep', ['-q', ` ${at} `, '/proc/mounts']).status === 0) continue;
    execFileSync('mkdir', ['-p', at]);
    execFileSync('mount', [`${disk.device}p${n}`, at]);
  }
}
