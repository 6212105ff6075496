#!/usr/bin/env node
// Replication: a supervisor as primary (its managed cluster on TCP, loopback),
// a standby entry, and
//  1. the base backup's throughput: plain pg_basebackup as a standby runs it
//     (over TLS with the entry's role, password and slot: -X stream -S slot
//     -c fast, sslmode=require) against the same copy over the Unix socket
//     without TLS (the reference), in the same run;
//  2. replication lag under a steady write load: a raw standby made with
//     pg_basebackup -R (test/harness/pgstandby.ts), pgbench -c 2 -R <rate>
//     on the primary, and the standby's replay lag sampled every 100 ms:
//     bytes (the primary's current LSN - the standby's replayed LSN) and
//     seconds (pg_stat_replication.replay_lag).
//   npm run build && node tools/bench/replication.mjs [--scale 10] [--rounds 2] [--seconds 20] [--rate 200]
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback);
const SCALE = opt('scale', 10);
const ROUNDS = opt('rounds', 2);
const SECONDS = opt('seconds', 20);
const RATE = opt('rate', 200);

const root = mkdtempSync(join(tmpdir(), 'ap-bench-repl-'));
chmodSync(root, 0o755);
const children = [];
let standby = null;
const run = (cmd, argv, options = {}) => spawnSync(cmd, argv, { encoding: 'utf8', ...options, env: { PATH: process.env.PATH, ...(options.env ?? {}) } });
const ctl = (...a) => {
  const r = run(process.execPath, [join(repo, 'dist/ap.js'), 'ctl', ...a, '--json', '--root', join(root, 'r')]);
  if (r.status !== 0) throw new Error(`ap ctl ${a.join(' ')}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
};
const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
/** Bytes of the files below `dir`. */
const du = (dir) => readdirSync(dir, { withFileTypes: true, recursive: true }).reduce((sum, e) => (e.isFile() ? sum + statSync(join(e.parentPath ?? e.path, e.name)).size : sum), 0);
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];

try {
  register('../ts-loader.mjs', import.meta.url);
  const { clusterAccount, findPgBin, findPgTools } = await import('../../src/db/index.ts');
  const { makeRawStandby } = await import('../../test/harness/pgstandby.ts');
  const { default: postgres } = await import('postgres');
  const tools = findPgTools(findPgBin(null));
  const account = clusterAccount();
  const as = account ? { uid: account.uid, gid: account.gid } : {};

  mkdirSync(join(root, 'r/etc'), { recursive: true });
  writeFileSync(join(root, 'r/etc/ap.json'), '{}');
  const pgPort = await freePort();
  const sup = spawn(process.execPath, [join(repo, 'dist/ap.js'), 'serve', '--root', join(root, 'r'), '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--pg-listen', '127.0.0.1', '--db-port', String(pgPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(sup);
  await new Promise((resolve, reject) => {
    let text = '';
    const on = (c) => ((text += c), /ready: Manager/.test(text) && resolve());
    sup.stdout.on('data', on);
    sup.stderr.on('data', on);
    sup.once('exit', () => reject(new Error(text)));
  });
  ctl('replication', 'mode', 'primary');
  const entry = ctl('replication', 'add', 'standby1.example.com');
  const status = ctl('status');
  const socket = ['-h', status.db.socketDir, '-p', String(status.db.port), '-U', 'postgres'];
  // An instance-like database (pgbench's tables) that the load writes to.
  if (run(join(tools, 'createdb'), [...socket, 'example.com_bench']).status !== 0) throw new Error('createdb failed');
  console.error(`bench: pgbench -i -s ${SCALE}…`);
  const init = run(join(tools, 'pgbench'), ['-i', '-s', String(SCALE), '-q', ...socket, 'example.com_bench']);
  if (init.status !== 0) throw new Error(init.stderr);
  // The reference copies over the socket as the superuser: the supervisor's pg_hba.conf has no
  // replication line for the socket, so the bench adds one (this cluster is thrown away).
  appendFileSync(join(root, 'r/mnt/sda2/pgsql/pg_hba.conf'), 'local replication postgres peer map=supervisor\n');
  if (run(join(tools, 'psql'), [...socket, '-d', 'postgres', '-Atc', 'SELECT pg_reload_conf()']).status !== 0) throw new Error('reload failed');

  // 1. Base backup throughput.
  const copies = { tls: [], socket: [] };
  let copied = 0;
  const copy = (how) => {
    const into = join(root, `copy-${how}`);
    mkdirSync(into, { mode: 0o700 });
    if (account) chownSync(into, account.uid, account.gid);
    const conn =
      how === 'tls'
        ? ['-d', `host=127.0.0.1 port=${pgPort} user=${entry.role} sslmode=require sslcert=${join(root, 'none')} sslkey=${join(root, 'none')}`, '-S', entry.slot]
        : ['-h', status.db.socketDir, '-p', String(status.db.port), '-U', 'postgres'];
    const t0 = process.hrtime.bigint();
    const r = run(join(tools, 'pg_basebackup'), [...conn, '-D', into, '-X', 'stream', '-c', 'fast', '--no-password'], { ...as, env: { PGPASSWORD: entry.password, PGSSLMODE: how === 'tls' ? 'require' : 'disable' } });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`pg_basebackup (${how}): ${r.stderr}`);
    copied = du(into);
    rmSync(into, { recursive: true, force: true });
    copies[how].push(seconds);
  };
  for (let round = 0; round < ROUNDS; round++) {
    copy('socket');
    copy('tls');
  }

  // 2. Lag under load.
  console.error('bench: the standby…');
  standby = await makeRawStandby(root, pgPort, entry, await freePort());
  const primary = postgres({ host: status.db.socketDir, port: status.db.port, username: 'postgres', database: 'postgres', max: 1, onnotice: () => {} });
  const replica = postgres({ host: standby.socketDir, port: standby.port, username: 'postgres', database: 'postgres', max: 1, onnotice: () => {} });
  for (let i = 0; ; i++) {
    const [r] = await primary`SELECT count(*)::int AS n FROM pg_stat_replication WHERE usename = ${entry.role} AND state = 'streaming'`;
    if (r.n > 0) break;
    if (i > 300) throw new Error(`the standby does not stream:\n${standby.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.error(`bench: pgbench -T ${SECONDS} -c 2 -R ${RATE}…`);
  const load = spawn(join(tools, 'pgbench'), ['-n', '-T', String(SECONDS), '-c', '2', '-R', String(RATE), ...socket, 'example.com_bench'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let loadOut = '';
  load.stdout.on('data', (c) => (loadOut += c));
  load.stderr.on('data', (c) => (loadOut += c));
  const done = new Promise((resolve) => load.once('exit', resolve));
  let running = true;
  void done.then(() => (running = false));
  const bytes = [];
  const seconds = [];
  while (running) {
    const t = Date.now();
    const [p] = await primary`SELECT pg_current_wal_lsn()::text AS lsn, (SELECT EXTRACT(epoch FROM replay_lag)::float8 FROM pg_stat_replication WHERE usename = ${entry.role}) AS lag`;
    const [s] = await replica`SELECT pg_wal_lsn_diff(${p.lsn}::pg_lsn, pg_last_wal_replay_lsn())::float8 AS behind`;
    bytes.push(Math.max(0, s.behind));
    if (p.lag !== null) seconds.push(p.lag);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - t))));
  }
  const code = await done;
  if (code !== 0) throw new Error(`pgbench: ${loadOut}`);
  const tps = /tps = ([\d.]+)/.exec(loadOut)?.[1] ?? '?';
  await primary.end();
  await replica.end();

  const best = (list) => Math.min(...list);
  const mb = copied / 1048576;
  const version = run(join(tools, 'psql'), [...socket, '-d', 'postgres', '-Atc', 'SHOW server_version']).stdout.trim();
  console.log(`node ${process.version} ${process.arch}; PostgreSQL ${version}; cluster copy ${mb.toFixed(0)} MB (pgbench scale ${SCALE}); best of ${ROUNDS} rounds`);
  console.log('| base backup | seconds | MB/s | vs socket |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, label] of [['socket', 'pg_basebackup over the Unix socket, no TLS (reference)'], ['tls', "pg_basebackup as a standby: TCP + TLS, the standby's role and slot"]]) {
    const s = best(copies[name]);
    console.log(`| ${label} | ${s.toFixed(2)} | ${(mb / s).toFixed(0)} | ${(best(copies.socket) / s).toFixed(2)}× |`);
  }
  const row = (label, list, fmt) => {
    const sorted = [...list].sort((a, b) => a - b);
    if (sorted.length === 0) return console.log(`| ${label} | no samples | | | | |`);
    console.log(`| ${label} | ${sorted.length} | ${fmt(sorted[0])} | ${fmt(quantile(sorted, 0.5))} | ${fmt(quantile(sorted, 0.95))} | ${fmt(sorted.at(-1))} |`);
  };
  console.log('');
  console.log(`pgbench -n -T ${SECONDS} -c 2 -R ${RATE} (tpcb-like): ${tps} tps; the standby sampled every 100 ms`);
  console.log('| replay lag | samples | min | median | p95 | max |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  row('bytes (primary LSN − standby replayed LSN)', bytes, (v) => `${(v / 1024).toFixed(1)} KB`);
  row('seconds (pg_stat_replication.replay_lag)', seconds, (v) => `${(v * 1000).toFixed(1)} ms`);
} finally {
  await standby?.stop().catch(() => {});
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
