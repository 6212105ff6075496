// Control groups for app services: one group the supervisor owns (`ap`, or
// `ap-<hash of the state root>` for a supervisor whose root is not "/", so
// supervisors of tests and development never share one) below the
// supervisor's own group, and one group per service below it, holding every
// process of the service and its limits. Both hierarchies: cgroup v2 where
// its mount has the memory, cpu and pids controllers, else v1 with one mount
// per controller. Where no group can be made, `openCgroups` says why once and
// answers null: services then run without limits.
//
// v2's "no internal processes" rule: a group that hands controllers to its
// children may hold no process itself (the root excepted). On a box the
// supervisor sits in the root (rcS mounts cgroup2, BusyBox init starts us), so
// `ap` goes below it. Below systemd our own group holds us: we move the
// processes of our own group into a leaf `<own>/supervisor` before enabling
// the controllers in it. On v1 no such rule exists and we stay where we are.
//
// Every write is synchronous: sysfs files answer at once, and a new child
// must be in its group before its program runs (services/process.ts).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log';
import { chooseLayout, parseMountinfo, parseProcCgroup, type Layout, type V1Controller } from './detect';
import { highOf, sharesOf } from './limits';

export { chooseLayout, folderOf, parseMountinfo, parseProcCgroup, type CgroupMount, type Layout, type ProcessGroups } from './detect';
export { highOf, LIMIT_FIELDS, LIMIT_RANGES, memoryLimitMB, resolveLimits, sharesOf, type EffectiveLimits, type LimitField, type LimitSource, type ServiceLimits } from './limits';

/** What a service's group counts, children included. */
export interface Usage {
  readonly memoryBytes: number;
  /** The most it used since its group was made; null where the kernel does not say (v2 before 5.19). */
  readonly memoryPeakBytes: number | null;
  readonly cpuSeconds: number;
}

/** The limits written into a group. */
export interface GroupLimits {
  readonly memoryBytes: number;
  readonly cpuWeight: number;
  readonly pids: number;
}

/** The name of the supervisor's group for state root `root`. */
export function groupName(root: string): string {
  return root === '/' ? 'ap' : `ap-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
}

const read = (file: string): string | null => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
};
const number = (text: string | null): number | null => (text === null || !/^\s*\d+\s*$/.test(text) ? null : Number(text));
const field = (text: string | null, name: string): number | null => {
  const match = text === null ? null : new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return match ? Number(match[1]) : null;
};

/** The service groups of one supervisor. */
export interface Cgroups {
  /** "cgroup v2 at …" / "cgroup v1 (memory at …)", for logs and docs. */
  readonly where: string;
  readonly version: 1 | 2;
  /** Makes the service's group (if missing) and writes its limits. */
  apply(service: string, limits: GroupLimits): void;
  /** Moves process `pid` into the service's group. */
  join(service: string, pid: number): void;
  usage(service: string): Usage | null;
  /** How often the kernel's OOM killer struck in the service's group; null when it cannot say. */
  oomKills(service: string): number | null;
  /** Removes the service's group once its processes are gone (retries briefly); false when it is still busy. */
  remove(service: string): Promise<boolean>;
  /** Removes the groups of services not in `keep` (left by an earlier run); the names removed. */
  prune(keep: ReadonlySet<string>): Promise<string[]>;
  /** Removes every empty service group and our own group (the supervisor stops). */
  close(): Promise<void>;
}

export interface CgroupOptions {
  readonly root: string;
  readonly log: Logger;
  /** /proc, for tests. */
  readonly proc?: string;
}

/** The supervisor's group made ready, or null (logged once, with the reason) when services must run without limits. */
export function openCgroups(options: CgroupOptions): Cgroups | null {
  const proc = options.proc ?? '/proc';
  const name = groupName(options.root);
  const without = (why: string) => {
    options.log.warn(`app services run without memory, CPU and process limits: ${why}`);
    return null;
  };
  const mountinfo = read(`${proc}/self/mountinfo`);
  const own = read(`${proc}/self/cgroup`);
  if (mountinfo === null || own === null) return without(`${proc}/self/mountinfo or ${proc}/self/cgroup cannot be read`);
  const layout = chooseLayout(parseMountinfo(mountinfo), parseProcCgroup(own), (folder) => read(join(folder, 'cgroup.controllers'))?.trim().split(/\s+/) ?? null);
  try {
    if (layout.version === 2) return v2(layout, name);
    if (layout.version === 1) return v1(layout, name);
    return without(layout.reason);
  } catch (err) {
    return without(`no group can be made (${(err as Error).message})`);
  }
}

const CONTROLLERS_V2 = '+memory +cpu +pids';

function v2(layout: Extract<Layout, { version: 2 }>, name: string): Cgroups {
  const own = layout.own;
  const enable = (folder: string) => writeFileSync(join(folder, 'cgroup.subtree_control'), CONTROLLERS_V2);
  try {
    enable(own);
  } catch (err) {
    // The real root may hold processes; any other group (below systemd, a container's
    // namespace root) may not while it hands controllers down: ours move to a leaf first.
    if ((err as NodeJS.ErrnoException).code !== 'EBUSY') throw err;
    const leaf = join(own, 'supervisor');
    mkdirSync(leaf, { recursive: true });
    for (const pid of (read(join(own, 'cgroup.procs')) ?? '').split('\n').filter(Boolean)) {
      try {
        writeFileSync(join(leaf, 'cgroup.procs'), pid);
      } catch {
        // gone meanwhile
      }
    }
    enable(own);
  }
  const base = join(own, name);
  mkdirSync(base, { recursive: true });
  enable(base);
  const group = (service: string) => join(base, service);
  return withRemoval({
    where: `cgroup v2 at ${base}`,
    version: 2,
    folders: () => [base],
    apply(service, limits) {
      const dir = group(service);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'memory.max'), String(limits.memoryBytes));
      writeFileSync(join(dir, 'memory.high'), String(highOf(limits.memoryBytes)));
      // Swap would only hide a leak from the limit.
      if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
      writeFileSync(join(dir, 'cpu.weight'), String(limits.cpuWeight));
      writeFileSync(join(dir, 'pids.max'), String(limits.pids));
    },
    join(service, pid) {
      writeFileSync(join(group(service), 'cgroup.procs'), String(pid));
    },
    usage(service) {
      const dir = group(service);
      const memory = number(read(join(dir, 'memory.current')));
      const usec = field(read(join(dir, 'cpu.stat')), 'usage_usec');
      if (memory === null || usec === null) return null;
      return { memoryBytes: memory, memoryPeakBytes: number(read(join(dir, 'memory.peak'))), cpuSeconds: usec / 1e6 };
    },
    oomKills: (service) => field(read(join(group(service), 'memory.events')), 'oom_kill'),
  });
}

function v1(layout: Extract<Layout, { version: 1 }>, name: string): Cgroups {
  const base = (controller: V1Controller) => join(layout.own[controller], name);
  // cpu and cpuacct are often one hierarchy (cpu,cpuacct): each folder once.
  const bases = [...new Set((['memory', 'cpu', 'cpuacct', 'pids'] as const).map(base))];
  for (const folder of bases) mkdirSync(folder, { recursive: true });
  try {
    // Always 1 on recent kernels (and not writable there); older ones need it for children to count.
    writeFileSync(join(base('memory'), 'memory.use_hierarchy'), '1');
  } catch {
    // already so
  }
  const group = (controller: V1Controller, service: string) => join(base(controller), service);
  const memory = (service: string, file: string) => join(group('memory', service), file);
  return withRemoval({
    where: `cgroup v1 (memory at ${base('memory')})`,
    version: 1,
    folders: () => bases,
    apply(service, limits) {
      for (const folder of bases) mkdirSync(join(folder, service), { recursive: true });
      const bytes = String(limits.memoryBytes);
      const limit = memory(service, 'memory.limit_in_bytes');
      const memsw = memory(service, 'memory.memsw.limit_in_bytes');
      // memsw (memory + swap) may never be below the memory limit: raise it first, lower it last.
      if (existsSync(memsw) && (number(read(limit)) ?? 0) < limits.memoryBytes) {
        writeFileSync(memsw, bytes);
        writeFileSync(limit, bytes);
      } else {
        writeFileSync(limit, bytes);
        if (existsSync(memsw)) writeFileSync(memsw, bytes);
      }
      writeFileSync(join(group('cpu', service), 'cpu.shares'), String(sharesOf(limits.cpuWeight)));
      writeFileSync(join(group('pids', service), 'pids.max'), String(limits.pids));
    },
    join(service, pid) {
      for (const folder of bases) writeFileSync(join(folder, service, 'cgroup.procs'), String(pid));
    },
    usage(service) {
      const used = number(read(memory(service, 'memory.usage_in_bytes')));
      const ns = number(read(join(group('cpuacct', service), 'cpuacct.usage')));
      if (used === null || ns === null) return null;
      // The kernel counts page cache it could drop at once; what it cannot is what the service uses.
      const inactiveFile = field(read(memory(service, 'memory.stat')), 'total_inactive_file') ?? 0;
      return { memoryBytes: Math.max(0, used - inactiveFile), memoryPeakBytes: number(read(memory(service, 'memory.max_usage_in_bytes'))), cpuSeconds: ns / 1e9 };
    },
    oomKills(service) {
      // oom_kill since Linux 4.13; before, the count of allocations that hit the limit is the best sign.
      return field(read(memory(service, 'memory.oom_control')), 'oom_kill') ?? number(read(memory(service, 'memory.failcnt')));
    },
  });
}

type Core = Omit<Cgroups, 'remove' | 'prune' | 'close'> & { folders(): readonly string[] };

/** Removal is the same on both hierarchies: rmdir of the service's folder below each of our folders. */
function withRemoval(core: Core): Cgroups {
  const removeNow = (service: string): boolean => {
    let done = true;
    for (const folder of core.folders()) {
      try {
        rmdirSync(join(folder, service));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') done = false;
      }
    }
    return done;
  };
  // Killed processes leave their group only once the kernel has reaped them: a moment after the exit we saw.
  const remove = async (service: string): Promise<boolean> => {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (removeNow(service)) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  };
  const services = () => [...new Set(core.folders().flatMap((folder) => readdirSync(folder, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)))];
  return {
    where: core.where,
    version: core.version,
    apply: (service, limits) => core.apply(service, limits),
    join: (service, pid) => core.join(service, pid),
    usage: (service) => core.usage(service),
    oomKills: (service) => core.oomKills(service),
    remove,
    async prune(keep) {
      const gone: string[] = [];
      for (const service of services()) if (!keep.has(service) && (await remove(service))) gone.push(service);
      return gone;
    },
    async close() {
      for (const service of services()) await remove(service);
      for (const folder of core.folders()) {
        try {
          rmdirSync(folder);
        } catch {
          // a service's processes are still there (killed, not yet reaped) or another group
        }
      }
    },
  };
}
