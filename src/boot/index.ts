// Boot control: which system the next boot starts, the rescue ramdisk or the
// normal root on p3. Two kinds, by board, both a small file on p1 replaced
// atomically (written beside, fsynced, renamed, the folder fsynced), so a power
// cut at any byte leaves the old or the new setting, never a broken one. The
// rescue script (rootfs-scripts/install_step1.sh) writes the same files.
//
// - grub (x86_64): p1/grub/grub.cfg, entry 0 rescue/setup, entry 1 normal,
//   `set default=N` choosing (the seed: "set default=0" → "set default=1").
// - gateway (IPx10/11/13): p1/bootsettings with the three values the gateway's
//   admin UI shows under App Platform → General: Kernel command line
//   (root=/dev/sda3 or root=/dev/ram0), Initrd file, Ramdisk size. Served
//   read-only at /manager/boot for the gateway.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Board } from '../config';
import { ApError } from '../errors';
import { ensureDir, writeFileAtomic } from '../fsutil';

import type { BootMode, BootSettings } from './views';

export { BootView, type BootMode, type BootSettings } from './views';


export interface BootControl {
  readonly kind: 'grub' | 'gateway';
  /** The file that holds it. */
  readonly file: string;
  read(): Promise<BootSettings>;
  set(mode: BootMode): Promise<BootSettings>;
}

export const RESCUE = { kernelCommandLine: 'root=/dev/ram0', initrdFile: 'ramdisk.ext2.xz', ramdiskSize: '100000' } as const;

/** The board's boot control over the boot partition folder `bootDir` (mnt/sda1). */
export function bootControl(board: Board, bootDir: string): BootControl {
  const normal = board.normalCmdline ?? 'root=/dev/sda3';
  const values = (mode: BootMode) => (mode === 'rescue' ? RESCUE : { kernelCommandLine: normal, initrdFile: '', ramdiskSize: '' });
  if (board.bootControl === 'grub') {
    const file = join(bootDir, 'grub/grub.cfg');
    return {
      kind: 'grub',
      file,
      async read() {
        const mode = parseGrub(await readFile(file, 'utf8').catch(() => null));
        return { mode, kind: 'grub', ...values(mode) };
      },
      async set(mode) {
        await ensureDir(join(bootDir, 'grub'));
        await writeFileAtomic(file, grubConfig(mode, normal));
        return { mode, kind: 'grub', ...values(mode) };
      },
    };
  }
  const file = join(bootDir, 'bootsettings');
  return {
    kind: 'gateway',
    file,
    async read() {
      const text = await readFile(file, 'utf8').catch(() => null);
      const parsed = parseGateway(text);
      return { kind: 'gateway', ...parsed };
    },
    async set(mode) {
      const v = values(mode);
      await ensureDir(bootDir);
      await writeFileAtomic(file, `cmdline=${v.kernelCommandLine}\ninitrd=${v.initrdFile}\nramdisk_size=${v.ramdiskSize}\n`);
      return { mode, kind: 'gateway', ...v };
    },
  };
}

/** grub.cfg: entry 0 rescue/setup, entry 1 the App Platform on p3. */
export function grubConfig(mode: BootMode, normalCmdline: string): string {
  return [
    '# Written by the App Platform: default 0 boots the rescue/setup entry, 1 the App Platform.',
    `set default=${mode === 'rescue' ? 0 : 1}`,
    'set timeout=3',
    'menuentry "rescue/setup" {',
    `  linux /kernel ${RESCUE.kernelCommandLine} ramdisk_size=${RESCUE.ramdiskSize} console=tty0 console=ttyS0`,
    `  initrd /${RESCUE.initrdFile}`,
    '}',
    'menuentry "App Platform" {',
    `  linux /kernel ${normalCmdline} rootwait console=tty0 console=ttyS0`,
    '}',
    '',
  ].join('\n');
}

/** The mode a grub.cfg selects; a missing or unreadable one boots the rescue (which can repair it). */
export function parseGrub(text: string | null): BootMode {
  const match = text === null ? null : /^\s*set\s+default=("?)(\d+)\1\s*$/m.exec(text);
  return match && match[2] === '1' ? 'normal' : 'rescue';
}

/** The gateway settings; missing or unreadable ones read as the rescue. */
export function parseGateway(text: string | null): Omit<BootSettings, 'kind'> {
  if (text === null) return { mode: 'rescue', ...RESCUE };
  const get = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1]?.trim() ?? null;
  const cmdline = get('cmdline');
  if (cmdline === null || cmdline === '') return { mode: 'rescue', ...RESCUE };
  const mode: BootMode = /(^|\s)root=\/dev\/ram0(\s|$)/.test(cmdline) || cmdline === '/dev/ram0' ? 'rescue' : 'normal';
  return { mode, kernelCommandLine: cmdline, initrdFile: get('initrd') ?? '', ramdiskSize: get('ramdisk_size') ?? '' };
}

export function parseMode(value: unknown): BootMode {
  if (value !== 'normal' && value !== 'rescue') throw new ApError('BAD_REQUEST', 'the boot mode is normal or rescue');
  return value;
}
