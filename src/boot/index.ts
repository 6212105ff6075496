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

import type { BootMode, BootSettings, BootState, GrubMenu } from './views';

export { BootState, BootView, GrubMenu, type BootMode, type BootSettings } from './views';

export interface BootControl {
  readonly kind: 'grub' | 'gateway';
  /** The file that holds it. */
  readonly file: string;
  read(): Promise<BootSettings>;
  set(mode: BootMode): Promise<BootSettings>;
  /** The settings with the file behind them and, on x86_64, the GRUB menu (the Manager's Boot settings page). */
  inspect(): Promise<BootState>;
}

export const RESCUE = { kernelCommandLine: 'root=/dev/ram0', initrdFile: 'ramdisk.ext2.xz', ramdiskSize: '100000' } as const;

/** The board's boot control over the boot partition folder `bootDir` (mnt/sda1). */
export function bootControl(board: Board, bootDir: string): BootControl {
  const normal = board.normalCmdline ?? 'root=/dev/sda3';
  const values = (mode: BootMode) => (mode === 'rescue' ? RESCUE : { kernelCommandLine: normal, initrdFile: '', ramdiskSize: '' });
  if (board.bootControl === 'grub') {
    const file = join(bootDir, 'grub/grub.cfg');
    const settings = (text: string | null): BootSettings => {
      const mode = parseGrub(text);
      return { mode, kind: 'grub', ...values(mode) };
    };
    return {
      kind: 'grub',
      file,
      read: async () => settings(await readText(file)),
      async inspect() {
        const text = await readText(file);
        return { settings: settings(text), control: 'grub', file, written: text !== null, grub: text === null ? null : parseGrubMenu(text) };
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
    read: async () => ({ kind: 'gateway', ...parseGateway(await readText(file)) }),
    async inspect() {
      const text = await readText(file);
      return { settings: { kind: 'gateway', ...parseGateway(text) }, control: board.bootControl, file, written: text !== null, grub: null };
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
  return text !== null && grubDefault(text) === 1 ? 'normal' : 'rescue';
}

/** The entry `set default=N` names, or null. */
function grubDefault(text: string): number | null {
  const match = /^\s*set\s+default=("?)(\d+)\1\s*$/m.exec(text);
  return match ? Number(match[2]) : null;
}

/** The menu of a grub.cfg: the default entry and each entry's title and linux arguments. */
export function parseGrubMenu(text: string): GrubMenu {
  const entries = [...text.matchAll(/^\s*menuentry\s+(["'])([^\n]*?)\1[^{\n]*\{([^}]*)\}/gm)].map((m) => ({
    title: m[2]!,
    kernelCommandLine: /^\s*linux\s+\S+\s*(.*?)\s*$/m.exec(m[3]!)?.[1] ?? '',
  }));
  return { defaultEntry: grubDefault(text), entries };
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

/** A file's text, or null when it cannot be read (missing: never written). */
function readText(file: string): Promise<string | null> {
  return readFile(file, 'utf8').catch(() => null);
}

export function parseMode(value: unknown): BootMode {
  if (value !== 'normal' && value !== 'rescue') throw new ApError('BAD_REQUEST', 'the boot mode is normal or rescue');
  return value;
}
