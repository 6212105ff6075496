// A service's limits: the administrator's setting over the package's app.json
// over the board's defaults, field by field; and the numbers each hierarchy
// is written with. Pure.

/** The four limits of a service (app.json `resources`, board.json `serviceLimits`, the setting). */
export interface ServiceLimits {
  /** What the service may use with no instance, in MB. */
  readonly memoryMB: number;
  /** Added to the memory limit for each of its instances, in MB. */
  readonly instanceMB: number;
  /** Its CPU share against other services (cgroup v2 cpu.weight, 1..10000). */
  readonly cpuWeight: number;
  /** The most processes and threads. */
  readonly pids: number;
}

export type LimitField = keyof ServiceLimits;
export const LIMIT_FIELDS: readonly LimitField[] = ['memoryMB', 'instanceMB', 'cpuWeight', 'pids'];
export type LimitSource = 'setting' | 'package' | 'board';

/** Each field's bounds, shared by app.json, board.json and the setting. */
export const LIMIT_RANGES: Readonly<Record<LimitField, readonly [number, number]>> = {
  memoryMB: [8, 4096],
  instanceMB: [0, 1024],
  cpuWeight: [1, 10000],
  pids: [8, 4096],
};

export interface EffectiveLimits extends ServiceLimits {
  /** Where each value comes from. */
  readonly source: Readonly<Record<LimitField, LimitSource>>;
}

/** Setting > package > board, field by field. */
export function resolveLimits(setting: Partial<ServiceLimits>, pkg: Partial<ServiceLimits>, board: ServiceLimits): EffectiveLimits {
  const values: Record<string, number> = {};
  const source: Record<string, LimitSource> = {};
  for (const field of LIMIT_FIELDS) {
    const [value, from] = setting[field] !== undefined ? [setting[field], 'setting' as const] : pkg[field] !== undefined ? [pkg[field], 'package' as const] : [board[field], 'board' as const];
    values[field] = value!;
    source[field] = from;
  }
  return { ...(values as unknown as ServiceLimits), source: source as Record<LimitField, LimitSource> };
}

/** The memory limit in force with `instances` instances, in MB. */
export function memoryLimitMB(limits: ServiceLimits, instances: number): number {
  return limits.memoryMB + limits.instanceMB * instances;
}

/** cgroup v1's cpu.shares for a v2 cpu.weight (100 ↔ 1024, the defaults of each); the kernel's floor is 2. */
export function sharesOf(weight: number): number {
  return Math.max(2, Math.round((weight * 1024) / 100));
}

/** v2's memory.high: the kernel throttles and reclaims there, so a leaking service slows down before memory.max kills it. */
export function highOf(maxBytes: number): number {
  return Math.floor((maxBytes * 0.9) / 4096) * 4096;
}
