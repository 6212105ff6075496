// The boards we run on, as data (board/<name>/board.json), embedded into the
// bundle at build time and validated when read.
import ipx10 from '../../board/ipx10/board.json';
import ipx11 from '../../board/ipx11/board.json';
import ipx13 from '../../board/ipx13/board.json';
import x86_64 from '../../board/x86_64/board.json';
import dev from '../../board/dev/board.json';
import { LIMIT_FIELDS, LIMIT_RANGES, type ServiceLimits } from '../cgroup';
import { UsageError } from '../errors';
import { asSentence, problem, T, type Static } from '../schema';

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
  /** Connections the supervisor's pool on its manager database may hold open. */
  readonly dbPool: number;
  /** The cluster's memory settings, applied by the managed cluster and by S50postgresql alike. */
  readonly postgres: PostgresSettings;
  /** The limits of an app service that declares none (app.json `resources`) and has no setting of its own. */
  readonly serviceLimits: ServiceLimits;
}

// PostgreSQL's own units; a value without one would be read in the setting's
// base unit (8 kB blocks for shared_buffers, kB for work_mem), a trap.
const Memory = T.String({ pattern: '^[1-9][0-9]{0,6}(kB|MB|GB)$', errorMessage: 'expected an amount with a unit, kB, MB or GB (such as "16MB")' });
const Count = (minimum: number, maximum: number) => T.Integer({ minimum, maximum, errorMessage: `expected an integer from ${minimum} to ${maximum}` });

/**
 * The PostgreSQL settings a board may set, by name, each with its unit. Only
 * memory and process counts: anything else (listening, authentication,
 * replication) is the init script's and the supervisor's business.
 */
export const PostgresSettings = T.Object(
  {
    shared_buffers: Memory,
    max_connections: Count(10, 1000),
    superuser_reserved_connections: T.Optional(Count(1, 10)),
    work_mem: Memory,
    maintenance_work_mem: Memory,
    temp_buffers: T.Optional(Memory),
    wal_buffers: Memory,
    effective_cache_size: Memory,
    min_wal_size: T.Optional(Memory),
    max_wal_size: Memory,
    autovacuum_max_workers: T.Optional(Count(1, 10)),
    max_worker_processes: T.Optional(Count(1, 64)),
    max_parallel_workers: T.Optional(Count(0, 64)),
    max_parallel_workers_per_gather: T.Optional(Count(0, 64)),
    max_parallel_maintenance_workers: T.Optional(Count(0, 64)),
    max_logical_replication_workers: T.Optional(Count(0, 64)),
  },
  { additionalProperties: false },
);
export type PostgresSettings = Static<typeof PostgresSettings>;

/**
 * Connections beyond the supervisor's pool that max_connections must leave
 * for everyone else: a pg_dump, vacuumdb or restore running beside the pool
 * (2), and at least one connection for each of a few app instances (8).
 */
export const CONNECTIONS_BESIDE_POOL = 10;

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
  const said = (field: string, sentence: string): never => {
    throw new Error(`board/${String(b?.name)}/board.json: field "${field}" ${sentence}`);
  };
  const bad = (field: string, want: string): never => said(field, `must be ${want}`);
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
  if (!Number.isInteger(b.dbPool) || (b.dbPool as number) < 1 || (b.dbPool as number) > 20) bad('dbPool', 'an integer from 1 to 20');
  const limits = b.serviceLimits as Record<string, unknown> | undefined;
  if (typeof limits !== 'object' || limits === null) bad('serviceLimits', `an object of ${LIMIT_FIELDS.join(', ')}`);
  for (const key of Object.keys(limits!)) if (!(LIMIT_FIELDS as readonly string[]).includes(key)) bad(`serviceLimits.${key}`, `one of ${LIMIT_FIELDS.join(', ')}`);
  for (const key of LIMIT_FIELDS) {
    const [min, max] = LIMIT_RANGES[key];
    const value = limits![key];
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) bad(`serviceLimits.${key}`, `an integer from ${min} to ${max}`);
  }
  const found = problem(PostgresSettings, b.postgres);
  if (found) said(found.field ? `postgres.${found.field}` : 'postgres', asSentence(found.reason));
  const pg = b.postgres as PostgresSettings;
  const reserved = pg.superuser_reserved_connections ?? 3;
  if (pg.max_connections < reserved + (b.dbPool as number) + CONNECTIONS_BESIDE_POOL) {
    bad('postgres.max_connections', `at least ${reserved + (b.dbPool as number) + CONNECTIONS_BESIDE_POOL} (superuser_reserved_connections ${reserved} + dbPool ${String(b.dbPool)} + ${CONNECTIONS_BESIDE_POOL} for dumps and instances)`);
  }
  if (typeof b.ramMB === 'number' && bytesOf(pg.shared_buffers) > (b.ramMB * 1024 * 1024) / 4) {
    bad('postgres.shared_buffers', `at most a quarter of ramMB (${b.ramMB / 4}MB)`);
  }
  return deepFreeze(structuredClone(b)) as unknown as Board;
}

const UNIT: Record<string, number> = { kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

/** Bytes of a Memory value ("16MB"). */
function bytesOf(value: string): number {
  const [, digits, unit] = /^(\d+)(kB|MB|GB)$/.exec(value)!;
  return Number(digits) * UNIT[unit!]!;
}

/** The board's PostgreSQL settings as name → value text, in board.json's order (for `-c` and postgresql.conf). */
export function postgresSettings(board: Board): Readonly<Record<string, string>> {
  return Object.fromEntries(Object.entries(board.postgres).map(([name, value]) => [name, String(value)]));
}

/** The settings as postgresql.conf lines; every value is a plain token (the schema allows no other). */
export function postgresConf(board: Board): string {
  const lines = Object.entries(postgresSettings(board)).map(([name, value]) => `${name} = ${value}`);
  return `# PostgreSQL settings of board ${board.name} (board/${board.name}/board.json)\n${lines.join('\n')}\n`;
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
