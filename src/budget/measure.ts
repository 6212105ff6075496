// Reads the budget from /proc at the moment it is asked: nothing is cached or
// guessed, so the figures are what Linux says now.
import { descendants, pss, pssOf, readMeminfoFields, readProcs } from '../procfs';
import { CONNECTION_BYTES } from '../db';
import type { BudgetView } from './views';

export const MiB = 1024 * 1024;

/**
 * What a PostgreSQL connection costs when none can be measured (no instance
 * connected yet): src/db's planning figure, measured with tools/bench/stack.mjs.
 */
export const DEFAULT_CONNECTION_BYTES = CONNECTION_BYTES;

/**
 * The kernel's own memory that /proc/meminfo counts and no process owns:
 * unreclaimable slab, kernel stacks, page tables (also the secondary ones of
 * KVM), per-CPU areas. Reclaimable slab (SReclaimable) and page cache are
 * left out: the kernel gives them back when memory is short.
 */
export const KERNEL_FIELDS = ['SUnreclaim', 'KernelStack', 'PageTables', 'SecPageTables', 'Percpu'] as const;

/** A service as the budget sees it (filled by the composition root). */
export interface BudgetService {
  readonly name: string;
  /** Its supervision state: stopped and failed reserve nothing. */
  readonly state: string;
  /** Its process group leader, or null when it runs none. */
  readonly pid: number | null;
  /** Its instances wanted running. */
  readonly instances: number;
  readonly limits: { readonly memoryMB: number; readonly instanceMB: number };
  /** From its cgroup (children included); null without one: then the PSS of its process group is read. */
  readonly usage: { readonly memoryBytes: number; readonly memoryPeakBytes: number } | null;
}

/** What a package declares it needs (app.json `resources`), each field optional. */
export type Declared = Readonly<{ memoryMB?: number; instanceMB?: number }>;

/** A client connection of PostgreSQL (a backend process). */
export interface Backend {
  readonly pid: number;
  /** The supervisor's own pool. */
  readonly own: boolean;
}

export interface BudgetSources {
  services(): readonly BudgetService[];
  /** The postmaster's pid, or null when there is none to read. */
  postmaster(): Promise<number | null>;
  /** The client backends, or null when the database does not answer. */
  backends(): Promise<readonly Backend[] | null>;
  /** The limits package `name` gets with what its app.json declares: the setting for it, else `declared`, else the board's. */
  limits(name: string, declared: Declared): { readonly memoryMB: number; readonly instanceMB: number };
}

export interface MeasureOptions {
  readonly sources: BudgetSources;
  /** The board's ramMB, or null. */
  readonly ramMB: number | null;
  /** --memory-budget-mb, or null. */
  readonly totalMB: number | null;
  readonly proc?: string;
  /** The supervisor's pid (default: this process). */
  readonly self?: number;
}

const RESERVES_NOTHING = new Set(['stopped', 'failed']);
const BACKENDS_WITHIN_MS = 2000;

/** `promise`'s value, or null when it fails or takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
    timer.unref();
  });
  return Promise.race([promise.catch(() => null), late]).finally(() => clearTimeout(timer));
}

export async function measure(options: MeasureOptions): Promise<BudgetView> {
  const proc = options.proc ?? '/proc';
  const self = options.self ?? process.pid;
  const { sources } = options;
  const fields = await readMeminfoFields(proc);
  const memTotalBytes = fields.get('MemTotal') ?? 0;
  const totalFrom = options.totalMB !== null ? 'flag' : options.ramMB !== null ? 'board' : 'meminfo';
  const totalBytes = options.totalMB !== null ? options.totalMB * MiB : options.ramMB !== null ? options.ramMB * MiB : memTotalBytes;

  const counted: Record<string, number> = {};
  for (const name of KERNEL_FIELDS) if (fields.has(name)) counted[name] = fields.get(name)!;
  const reservedBytes = options.ramMB === null ? 0 : Math.max(0, options.ramMB * MiB - memTotalBytes);
  const kernelBytes = reservedBytes + Object.values(counted).reduce((a, b) => a + b, 0);

  const procs = readProcs(proc);
  // A database that hangs must not hang an install: its connections are then unknown.
  const [postmaster, backends] = await Promise.all([sources.postmaster(), within(sources.backends(), BACKENDS_WITHIN_MS)]);
  const pgPids = postmaster === null ? [] : descendants(procs, [postmaster]);
  const pgSet = new Set(pgPids);
  const pgPss = new Map<number, number>();
  for (const pid of pgPids) pgPss.set(pid, await pssOf(pid, proc));
  const postgresBytes = [...pgPss.values()].reduce((a, b) => a + b, 0);
  const live = (backends ?? []).filter((b) => pgSet.has(b.pid));
  const measured = live.map((b) => pgPss.get(b.pid) ?? 0).filter((v) => v > 0);
  const perConnectionMeasured = measured.length > 0;
  const perConnectionBytes = perConnectionMeasured ? Math.round(measured.reduce((a, b) => a + b, 0) / measured.length) : DEFAULT_CONNECTION_BYTES;

  const services = sources.services();
  const serviceSet = new Set<number>();
  const views = [];
  for (const s of services) {
    const group = s.pid === null ? [] : procs.filter((p) => p.pgrp === s.pid && !pgSet.has(p.pid)).map((p) => p.pid);
    for (const pid of group) serviceSet.add(pid);
    const usage: { memoryBytes: number; memoryPeakBytes: number | null } | null = s.usage ?? (group.length ? { memoryBytes: await pss(group, proc), memoryPeakBytes: null } : null);
    const usageBytes = usage?.memoryBytes ?? null;
    const peakBytes = usage === null ? null : (usage.memoryPeakBytes ?? usage.memoryBytes);
    const declaredBytes = (s.limits.memoryMB + s.limits.instanceMB * s.instances) * MiB;
    views.push({
      name: s.name,
      state: s.state,
      instances: s.instances,
      memoryMB: s.limits.memoryMB,
      instanceMB: s.limits.instanceMB,
      declaredBytes,
      usageBytes,
      peakBytes,
      reservedBytes: RESERVES_NOTHING.has(s.state) ? 0 : Math.max(declaredBytes, peakBytes ?? 0),
    });
  }

  // Itself and what it started that is neither a service nor PostgreSQL (pg_dump, tar, a hashing worker is a thread of it).
  const supervisorPids = [self, ...descendants(procs, [self]).filter((pid) => pid !== self && !pgSet.has(pid) && !serviceSet.has(pid))];
  const supervisorBytes = await pss(supervisorPids, proc);

  const servicesBytes = views.reduce((a, s) => a + s.reservedBytes, 0);
  return {
    totalBytes,
    totalFrom,
    memTotalBytes,
    kernel: { bytes: kernelBytes, reservedBytes, fields: counted },
    supervisor: { bytes: supervisorBytes, pids: supervisorPids },
    postgres: { bytes: postgresBytes, pids: pgPids, connections: live.length, ownConnections: live.filter((b) => b.own).length, perConnectionBytes, perConnectionMeasured },
    services: views,
    servicesBytes,
    freeBytes: totalBytes - kernelBytes - supervisorBytes - postgresBytes - servicesBytes,
  };
}

const mb = (bytes: number) => Math.round(bytes / MiB);

/** The budget in one line, as a refusal quotes it. */
export function summary(b: BudgetView): string {
  const services = b.services.filter((s) => s.reservedBytes > 0);
  const pg = `PostgreSQL ${mb(b.postgres.bytes)} with ${b.postgres.connections} connection${b.postgres.connections === 1 ? '' : 's'} of ~${mb(b.postgres.perConnectionBytes)} MB`;
  const list = services.length ? `: ${services.map((s) => `${s.name} ${mb(s.reservedBytes)}`).join(', ')}` : '';
  return `${mb(b.freeBytes)} MB free of ${mb(b.totalBytes)} MB (kernel ${mb(b.kernel.bytes)}, supervisor ${mb(b.supervisor.bytes)}, ${pg}, services ${mb(b.servicesBytes)}${list})`;
}

export { mb };
