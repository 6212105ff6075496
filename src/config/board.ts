// The boards we run on, as data (board/<name>/board.json), embedded into the
// bundle at build time and validated when read.
import ipx10 from '../../board/ipx10/board.json';
import ipx11 from '../../board/ipx11/board.json';
import ipx13 from '../../board/ipx13/board.json';
import x86_64 from '../../board/x86_64/board.json';
import dev from '../../board/dev/board.json';
import { UsageError } from '../errors';

export type BoardName = 'ipx10' | 'ipx11' | 'ipx13' | 'x86_64' | 'dev';
export const BOARD_NAMES: readonly BoardName[] = ['ipx10', 'ipx11', 'ipx13', 'x86_64', 'dev'];

export interface Partition {
  readonly number: number;
  readonly device: string;
  readonly fs: 'vfat' | 'ext2' | 'ext4' | 'swap';
  /** Maximum size; null for "the rest of the disk". */
  readonly sizeMB: number | null;
  readonly mount: string | null;
}

export interface Board {
  readonly name: BoardName;
  readonly description: string;
  readonly arch: 'arm' | 'arm64' | 'x86_64' | 'any';
  readonly disk: string;
  readonly ramMB: number | null;
  readonly bootControl: 'gateway' | 'grub' | 'none';
  readonly partitions: readonly Partition[];
  readonly normalCmdline: string | null;
  /** Node.js flags for this board's memory, given by the init script. */
  readonly nodeFlags: readonly string[];
  /** Who runs PostgreSQL by default: the init script (attached) or the supervisor (managed). */
  readonly database: 'attached' | 'managed';
}

const RAW: Record<BoardName, unknown> = { ipx10, ipx11, ipx13, x86_64, dev };

/** The board called `name`, validated; a UsageError for an unknown name. */
export function getBoard(name: string): Board {
  if (!(BOARD_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`unknown board "${name}": expected one of ${BOARD_NAMES.join(', ')}`, 'UNKNOWN_BOARD');
  }
  return validateBoard(RAW[name as BoardName]);
}

/** Checks a parsed board.json; throws naming the first bad field. */
export function validateBoard(raw: unknown): Board {
  const b = raw as Record<string, unknown>;
  const bad = (field: string, want: string): never => {
    throw new Error(`board.json of "${String(b?.name)}": field "${field}" must be ${want}`);
  };
  if (typeof b !== 'object' || b === null) bad('(root)', 'an object');
  if (!(BOARD_NAMES as readonly unknown[]).includes(b.name)) bad('name', `one of ${BOARD_NAMES.join(', ')}`);
  if (typeof b.description !== 'string') bad('description', 'a string');
  if (!['arm', 'arm64', 'x86_64', 'any'].includes(b.arch as string)) bad('arch', 'arm, arm64, x86_64 or any');
  if (typeof b.disk !== 'string') bad('disk', 'a string');
  if (b.ramMB !== null && !Number.isInteger(b.ramMB)) bad('ramMB', 'an integer or null');
  if (!['gateway', 'grub', 'none'].includes(b.bootControl as string)) bad('bootControl', 'gateway, grub or none');
  if (!Array.isArray(b.partitions)) bad('partitions', 'an array');
  for (const p of b.partitions as Record<string, unknown>[]) {
    if (!Number.isInteger(p.number) || typeof p.device !== 'string' || !p.device.startsWith('/dev/')) {
      bad('partitions[].number/device', 'an integer and a /dev/ path');
    }
    if (!['vfat', 'ext2', 'ext4', 'swap'].includes(p.fs as string)) bad('partitions[].fs', 'vfat, ext2, ext4 or swap');
    if (p.sizeMB !== null && !Number.isInteger(p.sizeMB)) bad('partitions[].sizeMB', 'an integer or null');
  }
  if (b.normalCmdline !== null && typeof b.normalCmdline !== 'string') bad('normalCmdline', 'a string or null');
  if (!Array.isArray(b.nodeFlags) || !b.nodeFlags.every((f) => typeof f === 'string' && f.startsWith('--'))) {
    bad('nodeFlags', 'an array of --flags');
  }
  if (!['attached', 'managed'].includes(b.database as string)) bad('database', 'attached or managed');
  return deepFreeze(structuredClone(b)) as unknown as Board;
}

/** Freezes an object and everything below it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The board as shell variables for the rescue script (rootfs-scripts/install_step1.sh
 * reads them from /etc/ap/board.env). `disk` overrides the device (tests use loop devices).
 */
export function boardEnv(board: Board, disk?: { readonly disk: string; readonly partPrefix: string }): string {
  const part = (n: number) => board.partitions.find((p) => p.number === n);
  const p1 = part(1);
  const first = p1?.device ?? '/dev/sda1';
  const prefix = disk?.partPrefix ?? first.slice(0, -1);
  const device = disk?.disk ?? (prefix.endsWith('p') && /nvme|mmcblk|loop/.test(prefix) ? prefix.slice(0, -1) : prefix);
  const lines = {
    BOARD: board.name,
    DISK: device,
    PART: prefix,
    BOOT_CONTROL: board.bootControl === 'grub' ? 'grub' : 'gateway',
    NORMAL_CMDLINE: board.normalCmdline ?? 'root=/dev/sda3',
    P1_FS: p1?.fs === 'vfat' ? 'vfat' : 'ext2',
    P1_MB: String(p1?.sizeMB ?? 200),
    P3_MB: String(part(3)?.sizeMB ?? 500),
    P4_MB: String(part(4)?.sizeMB ?? 512),
  };
  return `${Object.entries(lines)
    .map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'`)
    .join('\n')}\n`;
}
