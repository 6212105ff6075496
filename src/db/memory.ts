// What PostgreSQL costs in memory, as the kernel counts it: the proportional
// set size (PSS, /proc/<pid>/smaps_rollup) of the postmaster and every process
// it runs, so that shared buffers touched by many backends are counted once.
// Connections are named with pg_stat_activity (needs a superuser or
// pg_read_all_stats, which the supervisor's pool has).
import { readdir, readFile } from 'node:fs/promises';
import type { Sql } from 'postgres';

/**
 * What one client connection (a backend) costs, measured with
 * tools/bench/stack.mjs on the ipx10 settings (docs/benchmarks.md): 3.0–4.7 MB
 * PSS after some queries, whatever the board (work_mem is per sort, not held).
 * For planning a connection that does not exist yet; postgresMemory() reads
 * the ones that do.
 */
export const CONNECTION_BYTES = 5 * 1024 * 1024;

export interface ConnectionMemory {
  readonly pid: number;
  readonly database: string;
  readonly user: string;
  /** Its application_name: 'ap-supervisor' for the supervisor's own. */
  readonly application: string;
  readonly pssBytes: number;
}

export interface PostgresMemory {
  /** The postmaster and all its processes. */
  readonly totalBytes: number;
  /** The postmaster and its background processes (checkpointer, WAL writer, autovacuum…): what no connection adds. */
  readonly serverBytes: number;
  /** Client connections, the one asking included. */
  readonly perConnection: readonly ConnectionMemory[];
}

async function pssBytes(proc: string, pid: number): Promise<number | null> {
  try {
    const text = await readFile(`${proc}/${pid}/smaps_rollup`, 'latin1');
    const kb = /^Pss:\s+(\d+) kB/m.exec(text);
    return kb ? Number(kb[1]) * 1024 : null;
  } catch {
    return null; // gone meanwhile, or not ours to read
  }
}

async function parentOf(proc: string, pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`${proc}/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/**
 * PostgreSQL's memory, read now: PSS of the postmaster and each of its
 * processes, connections named by database and user. Null when the server's
 * processes cannot be read here (another host, or no right to read them).
 */
export async function postgresMemory(sql: Sql, proc = '/proc'): Promise<PostgresMemory | null> {
  const rows = await sql<{ pid: number; database: string | null; user: string | null; application: string | null; type: string | null; self: boolean }[]>`
    SELECT pid, datname AS database, usename AS "user", application_name AS application, backend_type AS type, pid = pg_backend_pid() AS self
    FROM pg_stat_activity`;
  const self = rows.find((r) => r.self);
  const postmaster = self ? await parentOf(proc, self.pid) : null;
  if (postmaster === null || postmaster <= 1) return null;
  const postmasterPss = await pssBytes(proc, postmaster);
  if (postmasterPss === null) return null;
  // Every child of the postmaster, also those pg_stat_activity leaves out (the logger, a starting backend).
  const children: number[] = [];
  for (const entry of await readdir(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await parentOf(proc, Number(entry))) === postmaster) children.push(Number(entry));
  }
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  let totalBytes = postmasterPss;
  let serverBytes = postmasterPss;
  const perConnection: ConnectionMemory[] = [];
  for (const pid of children) {
    const pss = (await pssBytes(proc, pid)) ?? 0;
    totalBytes += pss;
    const row = byPid.get(pid);
    if (row?.type === 'client backend') {
      perConnection.push({ pid, database: row.database ?? '', user: row.user ?? '', application: row.application ?? '', pssBytes: pss });
    } else {
      serverBytes += pss;
    }
  }
  return { totalBytes, serverBytes, perConnection };
}
