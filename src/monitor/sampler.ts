// Samples the machine from /proc and statfs (no child processes) at a fixed
// interval into the metrics store: CPU (total, and per app service with its
// children: its process group), memory (system, supervisor, each service,
// PostgreSQL), disk per partition, open connections, database size per
// instance, restarts per service.
import { readFile, statfs } from 'node:fs/promises';
import { pss, readMeminfo, readProcs } from '../procfs';
import type { MetricInfo, MetricsStore } from './metrics';

export { readMeminfo, readProcs } from '../procfs';

const CLOCK_TICKS = 100; // USER_HZ on Linux, also on ARM

/** The modes of the first line of /proc/stat, in its order (guest time is counted in user already). */
export const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

/** Total and idle jiffies from the first line of /proc/stat, and the jiffies of each mode. */
export async function readCpu(proc = '/proc'): Promise<{ total: number; idle: number; modes: number[] }> {
  const line = (await readFile(`${proc}/stat`, 'latin1')).split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const modes = CPU_MODES.map((_, i) => v[i] ?? 0);
  const total = modes.reduce((a, b) => a + b, 0);
  return { total, idle: (v[3] ?? 0) + (v[4] ?? 0), modes };
}

/** The size of a page, from our own VmRSS and stat rss (ARM64 kernels may use 16 or 64 KiB). */
async function pageSize(proc = '/proc'): Promise<number> {
  const status = await readFile(`${proc}/self/status`, 'latin1');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const stat = await readFile(`${proc}/self/stat`, 'latin1');
  const pages = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[21]);
  const guess = pages > 0 ? (rssKb * 1024) / pages : 4096;
  for (const size of [4096, 16384, 65536]) if (Math.abs(guess - size) < size / 2) return size;
  return 4096;
}

export interface SamplerSources {
  /**
   * Services with the pid of their process group leader, their restarts, and
   * what their cgroup counts and allows (null without one).
   */
  services(): { name: string; pid: number | null; restarts: number; memoryLimitBytes?: number | null; usage?: { memoryBytes: number; cpuSeconds: number } | null }[];
  /** The postmaster's pid (its process group holds the cluster), or null. */
  postgres(): Promise<number | null>;
  /** Partitions to report: name → a path on it. */
  partitions(): Record<string, string>;
  connections(): { httpOpen: number; httpTotal: number; websockets: number; websocketsByInstance: ReadonlyMap<string, number> };
  /** Instance database sizes (asked every DB_SIZE_EVERY samples). */
  databaseSizes(): Promise<Map<string, number>>;
}

const DB_SIZE_EVERY_MS = 5 * 60_000;

export const METRIC_INFO: Record<string, MetricInfo> = {
  ap_cpu_percent: { help: 'CPU use of the whole machine, percent of all cores', type: 'gauge', chartOnly: true },
  ap_cpu_seconds_total: { help: 'CPU time of the whole machine by mode, all cores together (/proc/stat)', type: 'counter' },
  ap_service_cpu_percent: { help: 'CPU use of an app service and its children, percent of one core', type: 'gauge', chartOnly: true },
  ap_memory_total_bytes: { help: 'Memory the kernel manages (MemTotal)', type: 'gauge' },
  ap_memory_available_bytes: { help: 'Memory available to new work without swapping (MemAvailable)', type: 'gauge' },
  ap_memory_used_bytes: { help: 'Memory in use: MemTotal less MemAvailable', type: 'gauge', chartOnly: true },
  ap_supervisor_memory_bytes: { help: 'Resident memory of the supervisor', type: 'gauge', chartOnly: true },
  ap_postgres_memory_bytes: { help: 'Memory of PostgreSQL: the summed PSS of its processes (shared buffers once)', type: 'gauge' },
  ap_service_memory_bytes: { help: 'Memory of an app service and its children (its cgroup\'s count; resident memory without one)', type: 'gauge' },
  ap_service_memory_limit_bytes: { help: 'The memory limit in force of an app service (its cgroup)', type: 'gauge' },
  ap_service_cpu_seconds_total: { help: 'CPU time of an app service and its children (since its cgroup was made; without one, of its current process group)', type: 'counter' },
  ap_disk_size_bytes: { help: 'Size of a partition', type: 'gauge' },
  ap_disk_used_bytes: { help: 'Used space of a partition', type: 'gauge' },
  ap_http_requests_open: { help: 'HTTP requests being proxied to app services', type: 'gauge' },
  ap_http_requests_total: { help: 'HTTP requests proxied to app services since start', type: 'counter' },
  ap_websockets_open: { help: 'Open client WebSockets', type: 'gauge' },
  ap_instance_websockets_open: { help: 'Open client WebSockets of an instance (app_instance: name@domain)', type: 'gauge' },
  ap_instance_database_bytes: { help: 'Size of an instance database', type: 'gauge' },
  ap_service_restarts: { help: 'Restarts of an app service since it last ran stably', type: 'gauge' },
};

export class Sampler {
  private lastCpu: { total: number; idle: number } | null = null;
  private lastTicks = new Map<string, { ticks: number; at: number }>();
  private page = 4096;
  private lastDbSizes = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly store: MetricsStore,
    private readonly sources: SamplerSources,
    private readonly proc = '/proc',
    private readonly now: () => number = Date.now,
  ) {
    for (const [name, info] of Object.entries(METRIC_INFO)) store.describe(name, info);
  }

  start(intervalMs: number): void {
    void pageSize(this.proc).then((p) => (this.page = p), () => {});
    const tick = () => void this.sample().catch(() => {});
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.collect();
    } finally {
      this.busy = false;
    }
  }

  private async collect(): Promise<void> {
    const t = this.now();
    const set = (name: string, labels: Record<string, string>, value: number) => this.store.set(name, labels, value, t);

    const cpu = await readCpu(this.proc);
    if (this.lastCpu && cpu.total > this.lastCpu.total) {
      const dt = cpu.total - this.lastCpu.total;
      set('ap_cpu_percent', {}, (100 * (dt - (cpu.idle - this.lastCpu.idle))) / dt);
    }
    this.lastCpu = cpu;
    CPU_MODES.forEach((mode, i) => this.store.setLatest('ap_cpu_seconds_total', { mode }, cpu.modes[i]! / CLOCK_TICKS, t));

    const procs = readProcs(this.proc);
    const groups = new Map<number, { ticks: number; rss: number; pids: number[] }>();
    for (const p of procs) {
      let g = groups.get(p.pgrp);
      if (!g) groups.set(p.pgrp, (g = { ticks: 0, rss: 0, pids: [] }));
      g.ticks += p.ticks;
      g.rss += p.rssPages * this.page;
      g.pids.push(p.pid);
    }
    // Only the processes of this sample are kept: a pid gone (a restart) is forgotten, not kept for ever.
    const ticksNow = new Map<string, { ticks: number; at: number }>();
    for (const service of this.sources.services()) {
      set('ap_service_restarts', { service: service.name }, service.restarts);
      if (service.memoryLimitBytes != null) set('ap_service_memory_limit_bytes', { service: service.name }, service.memoryLimitBytes);
      if (service.usage) {
        // The cgroup counts every process of the service, also those that left its process group.
        set('ap_service_memory_bytes', { service: service.name }, service.usage.memoryBytes);
        this.store.setLatest('ap_service_cpu_seconds_total', { service: service.name }, service.usage.cpuSeconds, t);
      }
      const g = service.pid === null ? undefined : groups.get(service.pid);
      if (!g) continue;
      if (!service.usage) {
        set('ap_service_memory_bytes', { service: service.name }, g.rss);
        // Its process group's: starts again with each process (Prometheus's rate() takes a counter reset).
        this.store.setLatest('ap_service_cpu_seconds_total', { service: service.name }, g.ticks / CLOCK_TICKS, t);
      }
      const key = `${service.name}:${service.pid}`;
      const before = this.lastTicks.get(key);
      if (before && t > before.at) {
        set('ap_service_cpu_percent', { service: service.name }, Math.max(0, ((g.ticks - before.ticks) / CLOCK_TICKS / ((t - before.at) / 1000)) * 100));
      }
      ticksNow.set(key, { ticks: g.ticks, at: t });
    }
    this.lastTicks = ticksNow;

    const mem = await readMeminfo(this.proc);
    set('ap_memory_total_bytes', {}, mem.total);
    set('ap_memory_available_bytes', {}, mem.available);
    set('ap_memory_used_bytes', {}, mem.total - mem.available);
    set('ap_supervisor_memory_bytes', {}, process.memoryUsage.rss());
    const postmaster = await this.sources.postgres();
    const pg = postmaster === null ? undefined : groups.get(procs.find((p) => p.pid === postmaster)?.pgrp ?? -1);
    if (pg) set('ap_postgres_memory_bytes', {}, await pss(pg.pids, this.proc));

    for (const [partition, path] of Object.entries(this.sources.partitions())) {
      try {
        const fs = await statfs(path);
        set('ap_disk_size_bytes', { partition }, fs.blocks * fs.bsize);
        set('ap_disk_used_bytes', { partition }, (fs.blocks - fs.bfree) * fs.bsize);
      } catch {
        // not mounted here
      }
    }

    const c = this.sources.connections();
    set('ap_http_requests_open', {}, c.httpOpen);
    set('ap_http_requests_total', {}, c.httpTotal);
    set('ap_websockets_open', {}, c.websockets);
    // app_instance, not instance: Prometheus's own target label is "instance".
    for (const [instance, n] of c.websocketsByInstance) set('ap_instance_websockets_open', { app_instance: instance }, n);

    if (t - this.lastDbSizes >= DB_SIZE_EVERY_MS) {
      this.lastDbSizes = t;
      try {
        for (const [instance, bytes] of await this.sources.databaseSizes()) set('ap_instance_database_bytes', { app_instance: instance }, bytes);
      } catch {
        this.lastDbSizes = 0; // the database was away: ask at the next sample
      }
    } else {
      // Keep the last known sizes fresh in the hour ring between queries.
      for (const s of this.store.list()) if (s.name === 'ap_instance_database_bytes') set(s.name, s.labels, s.value);
    }
    this.store.prune(t);
  }
}
