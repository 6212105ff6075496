// What the benchmarks read of a process in /proc: its memory as the box sees
// it (PSS, VmRSS, the physical pages of a set of processes each counted
// once), its CPU time, and the process tree.
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';

/** A file's text, or null when the process is gone meanwhile (or the file is not there). */
export const read = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

export const pssBytes = (pid) => Number(/^Pss:\s+(\d+) kB/m.exec(read(`/proc/${pid}/smaps_rollup`) ?? '')?.[1] ?? 0) * 1024;
/** User and system CPU time of `pid` in seconds (clock ticks of 1/100 s). */
export const cpuSeconds = (pid) => {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return 0;
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
export const statusBytes = (pid, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(read(`/proc/${pid}/status`) ?? '')?.[1] ?? 0) * 1024;

/** Every process: pid → { ppid, comm }. */
export function processTable() {
  const table = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = read(`/proc/${entry}/stat`);
    if (!stat) continue;
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    table.set(Number(entry), { ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), comm });
  }
  return table;
}
export function descendants(table, pid) {
  const found = [pid];
  for (let i = 0; i < found.length; i++) for (const [p, { ppid }] of table) if (ppid === found[i]) found.push(p);
  return found;
}
export const sumPss = (pids) => pids.reduce((t, pid) => t + pssBytes(pid), 0);

/**
 * The physical pages that any of `pids` maps, each counted once (/proc/<pid>/pagemap
 * shows frame numbers to root): what these processes take together as they
 * would alone on a box. PSS cannot say that on a shared machine: a page of
 * /usr/bin/node is divided among every process mapping it, this bench and
 * other Node programs included, so the stack's PSS falls as more of them run.
 */
export function distinctBytes(pids) {
  const frames = new Set();
  for (const pid of pids) {
    const smaps = read(`/proc/${pid}/smaps`);
    if (!smaps) continue;
    let fd;
    try {
      fd = openSync(`/proc/${pid}/pagemap`, 'r');
    } catch {
      continue;
    }
    try {
      let range = null;
      for (const line of smaps.split('\n')) {
        const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
        if (head) {
          range = [parseInt(head[1], 16), parseInt(head[2], 16)];
          continue;
        }
        const rss = /^Rss:\s+(\d+) kB/.exec(line);
        if (!rss || !range || Number(rss[1]) === 0) continue;
        const pages = (range[1] - range[0]) / 4096;
        const entries = Buffer.alloc(pages * 8);
        const got = readSync(fd, entries, 0, entries.length, (range[0] / 4096) * 8);
        for (let i = 0; i + 8 <= got; i += 8) {
          const high = entries.readUInt32LE(i + 4);
          if (!(high & 0x80000000)) continue; // not present (bit 63)
          const frame = (high & 0x7fffff) * 2 ** 32 + entries.readUInt32LE(i); // bits 0-54
          if (frame) frames.add(frame);
        }
        range = null;
      }
    } finally {
      closeSync(fd);
    }
  }
  return frames.size * 4096;
}

/**
 * A process's resident memory by kind of mapping, in bytes: `heap` (malloc's
 * [heap]), `anon` (other anonymous mappings: the V8 heap, malloc's mmapped
 * arenas, thread stacks), and each file by its path (the node binary, addons,
 * libraries).
 */
export function residentByMapping(pid) {
  const smaps = read(`/proc/${pid}/smaps`) ?? '';
  const by = new Map();
  let name = null;
  for (const line of smaps.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const path = head[1].trim();
      name = path === '[heap]' ? 'heap' : path === '' || path.startsWith('[') ? 'anon' : path;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && name) by.set(name, (by.get(name) ?? 0) + Number(rss[1]) * 1024);
  }
  return by;
}
