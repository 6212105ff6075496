#!/usr/bin/env node
// Backup throughput: an instance database of --size MB (pgbench tables) backed
// up by the supervisor to a local file and to a loopback HTTP target, next to
// plain `pg_dump -Fc` of the same database to a file, in the same run.
//   npm run build && node tools/bench/backup.mjs [--size 1024] [--random 256] [--rounds 2]
// Times come from the jobs' own start and end (supervisor side) and from
// around pg_dump; the table shows MB/s of database size and the ratio to pg_dump.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback);
const SIZE_MB = opt('size', 1024);
const ROUNDS = opt('rounds', 2);
// MB of random (incompressible) bytes among the data: pgbench's own tables compress ~50:1,
// which measures pg_dump reading more than the stream behind it.
const RANDOM_MB = opt('random', 256);

const root = mkdtempSync(join(tmpdir(), 'ap-bench-backup-'));
chmodSync(root, 0o755);
const children = [];
const run = (cmd, argv, env = {}) => spawnSync(cmd, argv, { encoding: 'utf8', env: { ...process.env, ...env } });
const ctl = (...a) => {
  const r = run(process.execPath, [join(repo, 'dist/ap.js'), 'ctl', ...a, '--json', '--timeout', '3600', '--root', join(root, 'r')]);
  if (r.status !== 0 && !r.stdout) throw new Error(`ap ctl ${a.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
const jobSeconds = (job) => (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000;

try {
  register('../ts-loader.mjs', import.meta.url);
  const { buildFixture } = await import('../../test/harness/supervisor.ts');
  const { findPgBin, findPgTools } = await import('../../src/db/index.ts');
  const tools = findPgTools(findPgBin(null));
  mkdirSync(join(root, 'r/etc'), { recursive: true });
  writeFileSync(join(root, 'r/etc/ap.json'), '{}');
  const sup = spawn(process.execPath, [join(repo, 'dist/ap.js'), 'serve', '--root', join(root, 'r'), '--http-port', '0', '--https-port', '0', '--reserve-size', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(sup);
  await new Promise((resolve, reject) => {
    let text = '';
    const on = (c) => ((text += c), /ready: Manager/.test(text) && resolve());
    sup.stdout.on('data', on);
    sup.stderr.on('data', on);
    sup.once('exit', () => reject(new Error(text)));
  });
  ctl('service', 'install', await buildFixture('echo', join(root, 'packages')));
  ctl('instance', 'create', 'bench@example.com', '--service', 'echo', '--stopped');
  const status = ctl('status');
  const conn = ['-h', status.db.socketDir, '-p', String(status.db.port), '-U', 'postgres'];
  const scale = Math.max(1, Math.round((SIZE_MB - RANDOM_MB) / 15));
  console.error(`bench: pgbench -i -s ${scale} (about ${SIZE_MB} MB)…`);
  const init = run(join(tools, 'pgbench'), ['-i', '-s', String(scale), '-q', ...conn, 'example.com_bench']);
  if (init.status !== 0) throw new Error(init.stderr);
  if (RANDOM_MB > 0) {
    const { default: postgres } = await import('postgres');
    const { randomBytes } = await import('node:crypto');
    const sql = postgres({ host: status.db.socketDir, port: status.db.port, username: 'postgres', database: 'example.com_bench', max: 1, onnotice: () => {} });
    await sql`CREATE TABLE random_blobs (id int PRIMARY KEY, data bytea)`;
    for (let i = 0; i < RANDOM_MB; i++) await sql`INSERT INTO random_blobs VALUES (${i}, ${randomBytes(1024 * 1024)})`;
    await sql.end();
  }
  const size = Number(run(join(tools, 'psql'), [...conn, '-At', '-d', 'example.com_bench', '-c', "SELECT pg_database_size('example.com_bench')"]).stdout.trim());
  console.error(`bench: database is ${(size / 1048576).toFixed(0)} MB`);

  let httpBytes = 0;
  const target = createServer((req, res) => {
    req.on('data', (c) => (httpBytes += c.length));
    req.on('end', () => res.writeHead(201).end());
  });
  await new Promise((r) => target.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${target.address().port}/bench.dump`;

  const results = { pg_dump: [], file: [], http: [] };
  let bytes = { pg_dump: 0, file: 0, http: 0 };
  const file = join(root, 'out.dump');
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint();
    const plain = run(join(tools, 'pg_dump'), ['-Fc', ...conn, '-d', 'example.com_bench', '-f', file]);
    if (plain.status !== 0) throw new Error(plain.stderr);
    results.pg_dump.push(Number(process.hrtime.bigint() - t0) / 1e9);
    bytes.pg_dump = statSync(file).size;
    rmSync(file);
    const ours = ctl('backup', 'instance', 'bench@example.com', '--file', file);
    if (ours.state !== 'succeeded') throw new Error(ours.message);
    results.file.push(jobSeconds(ours));
    bytes.file = statSync(file).size;
    rmSync(file);
    httpBytes = 0;
    const up = await new Promise((resolve) => {
      const c = spawn(process.execPath, [join(repo, 'dist/ap.js'), 'ctl', 'backup', 'instance', 'bench@example.com', '--url', url, '--json', '--timeout', '3600', '--root', join(root, 'r')], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.once('exit', () => resolve(JSON.parse(out)));
    });
    if (up.state !== 'succeeded') throw new Error(up.message);
    results.http.push(jobSeconds(up));
    bytes.http = httpBytes;
  }
  target.close();
  const best = (list) => Math.min(...list);
  const mbps = (s) => size / 1048576 / s;
  console.log(`node ${process.version} ${process.arch}; database ${(size / 1048576).toFixed(0)} MB (pgbench scale ${scale}, ${RANDOM_MB} MB random bytes); best of ${ROUNDS} rounds; MB/s of database size`);
  console.log('| backup | seconds | MB/s | output MB | vs pg_dump |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [name, label] of [['pg_dump', 'plain pg_dump -Fc to a file (reference)'], ['file', 'supervisor to a local file'], ['http', 'supervisor to a loopback HTTP target']]) {
    const s = best(results[name]);
    console.log(`| ${label} | ${s.toFixed(2)} | ${mbps(s).toFixed(0)} | ${(bytes[name] / 1048576).toFixed(1)} | ${(best(results.pg_dump) / s).toFixed(2)}× |`);
  }
} finally {
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 2000));
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
