#!/usr/bin/env node
// PostgreSQL's memory on a small box: one cluster with a board's settings
// (board/<name>/board.json "postgres") and one with PostgreSQL's defaults, in
// the same run, each with the connections a box with --services services ×
// --instances instances opens (every instance database --per-instance
// connections, as the example service's pool; the supervisor's pool on the
// manager database, dbPool, 4 for the defaults as before issue 17). Prints the
// PSS (proportional set size, from /proc/<pid>/smaps_rollup) summed over the
// postmaster and all its children: once idle after connecting, and once after
// every instance read --data-mb of its own table (shared buffers fill up to
// shared_buffers; backends keep their catalog caches and work_mem sorts).
//   node tools/bench/pg-memory.mjs [--board ipx10] [--services 3] [--instances 2] [--per-instance 2] [--data-mb 8]
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const boardName = opt('board', 'ipx10');
const services = Number(opt('services', 3));
const instances = Number(opt('instances', 2));
const perInstance = Number(opt('per-instance', 2));
const dataMb = Number(opt('data-mb', 8));
const board = JSON.parse(readFileSync(join(repo, 'board', boardName, 'board.json'), 'utf8'));

// Debian's layout (the newest installed major), as on the box.
function pgBin() {
  const dirs = readdirSync('/usr/lib/postgresql')
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => `/usr/lib/postgresql/${v}/bin`);
  return dirs[0];
}

// PostgreSQL refuses to run as root: run it as the postgres user then.
const asRoot = process.getuid() === 0;
const account = asRoot ? { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) } : null;

const children = (pid) => {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
};
const pssKb = (pid) => {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);
  } catch {
    return 0;
  }
};
const clusterPss = (pid) => {
  const pids = [pid, ...children(pid)];
  return { mb: pids.reduce((sum, p) => sum + pssKb(p), 0) / 1024, processes: pids.length };
};

async function measure(label, settings, managerPool) {
  const dir = mkdtempSync(join(tmpdir(), 'ap-bench-pg-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'pgsql');
  const sock = join(dir, 'run');
  mkdirSync(sock);
  const own = { ...(account ?? {}) };
  if (account) {
    chownSync(dir, account.uid, account.gid);
    chownSync(sock, account.uid, account.gid);
  }
  execFileSync(join(pgBin(), 'initdb'), ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--auth=trust'], { stdio: 'ignore', ...own });
  const argv = ['-D', data, '-k', sock, '-c', 'listen_addresses='];
  for (const [name, value] of Object.entries(settings)) argv.push('-c', `${name}=${value}`);
  const server = spawn(join(pgBin(), 'postgres'), argv, { stdio: ['ignore', 'ignore', 'pipe'], ...own });
  let log = '';
  server.stderr.on('data', (d) => (log += d));
  const connect = (database, max) => postgres({ path: `${sock}/.s.PGSQL.5432`, database, username: 'postgres', max, idle_timeout: 0, onnotice: () => {} });
  const pools = [];
  try {
    for (let i = 0; ; i++) {
      if (/ready to accept connections/.test(log)) break;
      if (server.exitCode !== null || i > 600) throw new Error(`postgres did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const admin = connect('postgres', 1);
    pools.push(admin);
    const names = [];
    for (let s = 0; s < services; s++) for (let n = 0; n < instances; n++) names.push(`svc${s}_inst${n}`);
    for (const name of [...names, 'manager']) await admin.unsafe(`CREATE DATABASE "${name}"`);
    const manager = connect('manager', managerPool);
    pools.push(manager);
    const instancePools = names.map((name) => connect(name, perInstance));
    pools.push(...instancePools);
    // Open every connection: as many concurrent queries as the pool holds.
    const fill = (sql, max) => Promise.all(Array.from({ length: max }, () => sql`SELECT pg_sleep(0.05)`));
    await Promise.all([fill(manager, managerPool), ...instancePools.map((sql) => fill(sql, perInstance))]);
    await new Promise((r) => setTimeout(r, 1000));
    const idle = clusterPss(server.pid);

    const rows = Math.round((dataMb * 1024 * 1024) / 150); // about 150 bytes a row with its overhead
    for (const sql of instancePools) {
      await sql`CREATE TABLE t (id int PRIMARY KEY, body text)`;
      await sql`INSERT INTO t SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, ${rows}) g`;
    }
    for (let round = 0; round < 2; round++) {
      await Promise.all(instancePools.map((sql) => Promise.all(Array.from({ length: perInstance }, () => sql`SELECT count(*), max(body) FROM (SELECT body FROM t ORDER BY body LIMIT 1000) s`))));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const busy = clusterPss(server.pid);
    const [{ n }] = await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'`;
    return { label, idle, busy, connections: n, sharedBuffers: (await admin`SHOW shared_buffers`)[0].shared_buffers, maxConnections: (await admin`SHOW max_connections`)[0].max_connections };
  } finally {
    await Promise.all(pools.map((sql) => sql.end({ timeout: 1 })));
    server.kill('SIGINT');
    await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  }
}

const defaults = { max_connections: '100' };
const results = [
  await measure(`board ${boardName}`, Object.fromEntries(Object.entries(board.postgres).map(([k, v]) => [k, String(v)])), board.dbPool),
  await measure('PostgreSQL defaults', defaults, 4),
];
console.log(`PostgreSQL PSS (postmaster + children), ${services} services × ${instances} instances × ${perInstance} connections + the supervisor's pool; ${dataMb} MB read per instance`);
console.log('| cluster | shared_buffers | max_connections | client connections | processes | PSS idle (MB) | PSS after reading (MB) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(`| ${r.label} | ${r.sharedBuffers} | ${r.maxConnections} | ${r.connections} | ${r.busy.processes} | ${r.idle.mb.toFixed(1)} | ${r.busy.mb.toFixed(1)} |`);
}
