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
// Beside the PSS, "alone": the cluster's distinct physical pages, each counted
// once (what it takes on a box where no other cluster maps the same files).
// --reference name=value,… measures the board's settings with those changed
// as the reference instead of PostgreSQL's defaults; --pgbench S then runs
// pgbench (scale 1, 2 clients, S seconds, twice, alternating between the
// clusters) on each: what the settings cost in transactions a second.
//   node tools/bench/pg-memory.mjs [--board ipx10] [--services 3] [--instances 2] [--per-instance 2] [--data-mb 8]
//        [--reference shared_buffers=16MB,…] [--pgbench 20]
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { descendants, distinctBytes, processTable, pssBytes } from './procmem.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const boardName = opt('board', 'ipx10');
const services = Number(opt('services', 3));
const instances = Number(opt('instances', 2));
const perInstance = Number(opt('per-instance', 2));
const dataMb = Number(opt('data-mb', 8));
const reference = opt('reference', null);
const pgbenchSeconds = Number(opt('pgbench', 0));
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

const clusterMemory = (pid) => {
  const pids = descendants(processTable(), pid);
  return { mb: pids.reduce((sum, p) => sum + pssBytes(p), 0) / 1048576, alone: distinctBytes(pids) / 1048576, processes: pids.length };
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
    const idle = clusterMemory(server.pid);

    const rows = Math.round((dataMb * 1024 * 1024) / 150); // about 150 bytes a row with its overhead
    for (const sql of instancePools) {
      await sql`CREATE TABLE t (id int PRIMARY KEY, body text)`;
      await sql`INSERT INTO t SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, ${rows}) g`;
    }
    for (let round = 0; round < 2; round++) {
      await Promise.all(instancePools.map((sql) => Promise.all(Array.from({ length: perInstance }, () => sql`SELECT count(*), max(body) FROM (SELECT body FROM t ORDER BY body LIMIT 1000) s`))));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const busy = clusterMemory(server.pid);
    const [{ n }] = await admin`SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'`;
    let tps = null;
    if (pgbenchSeconds > 0) {
      await admin`CREATE DATABASE bench`;
      const pgbench = (...a) => execFileSync(join(pgBin(), 'pgbench'), ['-h', sock, '-p', '5432', '-U', 'postgres', ...a, 'bench'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      pgbench('-i', '-s', '1', '-q');
      tps = Number(/^tps = ([\d.]+)/m.exec(pgbench('-T', String(pgbenchSeconds), '-c', '2', '-j', '1'))?.[1]);
    }
    return { label, idle, busy, connections: n, tps, sharedBuffers: (await admin`SHOW shared_buffers`)[0].shared_buffers, maxConnections: (await admin`SHOW max_connections`)[0].max_connections };
  } finally {
    await Promise.all(pools.map((sql) => sql.end({ timeout: 1 })));
    server.kill('SIGINT');
    await new Promise((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', resolve)));
    rmSync(dir, { recursive: true, force: true });
  }
}

const boardSettings = Object.fromEntries(Object.entries(board.postgres).map(([k, v]) => [k, String(v)]));
const [refLabel, refSettings, refPool] = reference
  ? [`board ${boardName} with ${reference}`, { ...boardSettings, ...Object.fromEntries(reference.split(',').map((kv) => kv.split('='))) }, board.dbPool]
  : ['PostgreSQL defaults', { max_connections: '100' }, 4];
// With pgbench the pair runs twice, alternating, so a busier minute of the machine does not pick the winner.
const results = [];
for (let round = 0; round < (pgbenchSeconds > 0 ? 2 : 1); round++) {
  results.push(await measure(`board ${boardName}`, boardSettings, board.dbPool));
  results.push(await measure(refLabel, refSettings, refPool));
}
console.log(`PostgreSQL memory (postmaster + children), ${services} services × ${instances} instances × ${perInstance} connections + the supervisor's pool; ${dataMb} MB read per instance; alone: distinct physical pages${pgbenchSeconds > 0 ? `; pgbench scale 1, 2 clients, ${pgbenchSeconds} s` : ''}`);
console.log(`| cluster | shared_buffers | max_connections | client connections | processes | PSS idle (MB) | PSS after reading (MB) | alone after reading (MB) |${pgbenchSeconds > 0 ? ' pgbench tps |' : ''}`);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- |${pgbenchSeconds > 0 ? ' --- |' : ''}`);
for (const r of results) {
  console.log(`| ${r.label} | ${r.sharedBuffers} | ${r.maxConnections} | ${r.connections} | ${r.busy.processes} | ${r.idle.mb.toFixed(1)} | ${r.busy.mb.toFixed(1)} | ${r.busy.alone.toFixed(1)} |${r.tps !== null ? ` ${r.tps.toFixed(0)} |` : ''}`);
}
