#!/usr/bin/env node
// WebSocket benchmark: clients log in through the supervisor (PBX login) to the
// example echo service and ping-pong 64-byte messages; the same run measures a
// bare uWebSockets.js echo server (no login, no second hop) as the reference.
//   npm run build && node tools/bench/ws.mjs [--memory 10000] [--throughput 1000] [--seconds 10] [--warmup 1000] [--board x86_64] [--extra-flags "--no-opt"] [--verbose]
// Prints: server RSS per idle connection (VmRSS and RssAnon deltas), the
// service's too, round trips/s with many connections, unloaded p50/p99 round
// trip on one connection, and server CPU µs per round trip. The supervisor runs
// with --expose-gc so that memory is read after a full collection (`ap ctl debug gc`).
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openMany as openClients } from './pbx-client.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? Number(args[args.indexOf(`--${name}`) + 1]) : fallback);
const MEMORY_CONNS = opt('memory', 10_000);
const THROUGHPUT_CONNS = opt('throughput', 1000);
const SECONDS = opt('seconds', 10);
const WARMUP = opt('warmup', 1000);
const PASSWORD = 'bench-password';
const PAYLOAD = Buffer.alloc(64, 0x61);
// The supervisor runs with a board's Node flags, as S92manager starts it on a box.
const BOARD = args.includes('--board') ? args[args.indexOf('--board') + 1] : 'x86_64';
// --extra-flags "--no-opt": added to the board's, to measure a flag before it goes into board.json.
const EXTRA_FLAGS = args.includes('--extra-flags') ? args[args.indexOf('--extra-flags') + 1].split(' ').filter(Boolean) : [];
const BOARD_FLAGS = [...JSON.parse(readFileSync(join(repo, 'board', BOARD, 'board.json'), 'utf8')).nodeFlags, ...EXTRA_FLAGS];

const status = (pid) => readFileSync(`/proc/${pid}/status`, 'utf8');
const kb = (pid, field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status(pid))[1]);
const cpuMs = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function waitOutput(child, pattern) {
  let text = '';
  return new Promise((resolve, reject) => {
    const on = (c) => {
      text += c;
      const m = pattern.exec(text);
      if (m) resolve(m);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${text}`)));
  });
}

/** `n` clients of `url`, logged in to the bench instance when `login`. */
const openMany = (url, n, login) => openClients(n, () => ({ url, login: login ? { app: 'bench', domain: 'example.com', password: PASSWORD } : null }));

async function pingPong(clients, seconds) {
  let count = 0;
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    clients.map(
      (ws) =>
        new Promise((resolve) => {
          ws.on('message', () => {
            count++;
            if (Date.now() < deadline) ws.send(PAYLOAD);
            else resolve();
          });
          ws.send(PAYLOAD);
        }),
    ),
  );
  return count;
}

async function latency(ws, rounds) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      ws.once('message', resolve);
      ws.send(PAYLOAD);
    });
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(times.length * 0.5)], p99: times[Math.floor(times.length * 0.99)] };
}

async function measure(name, url, pids, login, heap = async () => null) {
  const row = { name };
  const rss = () => pids.map((pid) => ({ rss: kb(pid, 'VmRSS'), anon: kb(pid, 'RssAnon') }));
  const perConn = (a, b) => ({ rss: a.map((x, i) => ((x.rss - b[i].rss) * 1024) / MEMORY_CONNS), anon: a.map((x, i) => ((x.anon - b[i].anon) * 1024) / MEMORY_CONNS) });
  await heap();
  await sleep(300); // the services collect on their own loop
  const idle = rss();
  // One-time costs (code compiled for the login path, the young generation
  // sized for the login rate, code pages touched for the first time) are not
  // per connection: a warm-up opens and closes WARMUP connections, and the
  // marginal cost is read from there. The cold figure (from idle) is kept too.
  if (WARMUP > 0) {
    const warm = await openMany(url, WARMUP, login);
    for (const ws of warm) ws.terminate();
    await sleep(1000);
  }
  const heapBefore = await heap();
  await sleep(300);
  const before = rss();
  const many = await openMany(url, MEMORY_CONNS, login);
  await sleep(2000);
  const heapAfter = await heap();
  await sleep(300);
  const after = rss();
  row.heap = heapBefore && heapAfter ? (heapAfter.heapUsed - heapBefore.heapUsed) / MEMORY_CONNS : null;
  if (heapBefore && heapAfter && args.includes('--verbose')) {
    // Where the supervisor's bytes per connection go, per V8 space: committed / physical / in use.
    for (const [space, a] of Object.entries(heapAfter.spaces)) {
      const b = heapBefore.spaces[space];
      const d = (k) => ((a[k] - b[k]) / MEMORY_CONNS).toFixed(0);
      console.error(`bench: ${space.padEnd(24)} size ${d('size').padStart(5)}  physical ${d('physical').padStart(5)}  used ${d('used').padStart(5)} B/conn`);
    }
    console.error(`bench: external ${((heapAfter.external - heapBefore.external) / MEMORY_CONNS).toFixed(0)} B/conn, arrayBuffers ${((heapAfter.arrayBuffers - heapBefore.arrayBuffers) / MEMORY_CONNS).toFixed(0)} B/conn`);
  }
  Object.assign(row, perConn(after, before));
  row.cold = perConn(after, idle);
  for (const ws of many.slice(THROUGHPUT_CONNS)) ws.terminate();
  await sleep(500);
  const workers = many.slice(0, THROUGHPUT_CONNS);
  const cpu0 = pids.reduce((t, pid) => t + cpuMs(pid), 0);
  const t0 = Date.now();
  const rounds = await pingPong(workers, SECONDS);
  const elapsed = (Date.now() - t0) / 1000;
  const cpu = pids.reduce((t, pid) => t + cpuMs(pid), 0) - cpu0;
  row.rps = rounds / elapsed;
  row.cpuUs = (cpu * 1000) / rounds;
  for (const ws of workers.slice(1)) ws.terminate();
  await sleep(300);
  for (const ev of ['message']) workers[0].removeAllListeners(ev);
  Object.assign(row, await latency(workers[0], 3000));
  workers[0].terminate();
  return row;
}

const root = mkdtempSync(join(tmpdir(), 'ap-bench-ws-'));
chmodSync(root, 0o755);
const children = [];
try {
  // The supervisor with the example service behind the PBX login.
  register('../ts-loader.mjs', import.meta.url);
  const { buildFixture } = await import('../../test/harness/supervisor.ts');
  const pkg = await buildFixture('pbxecho', join(root, 'packages'));
  mkdirSync(join(root, 'r/etc'), { recursive: true });
  writeFileSync(join(root, 'r/etc/ap.json'), JSON.stringify({ instances: [{ service: 'pbxecho', name: 'bench', domain: 'example.com', password: PASSWORD }] }));
  // openMany logs 200 in at once: above the default --ws-login-max (64).
  const sup = spawn(process.execPath, [...BOARD_FLAGS, '--expose-gc', join(repo, 'dist/ap.js'), 'serve', '--root', join(root, 'r'), '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--host', '127.0.0.1', '--board', BOARD, '--db', 'managed', '--ws-login-max', '256'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(sup);
  const supReady = waitOutput(sup, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  const [, port] = await supReady;
  const ctl = (...a) => new Promise((resolve) => {
    const c = spawn(process.execPath, [join(repo, 'dist/ap.js'), 'ctl', ...a, '--json', '--root', join(root, 'r')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.once('exit', () => resolve(JSON.parse(out || 'null')));
  });
  await ctl('service', 'install', pkg);
  let servicePid = null;
  while (!servicePid) {
    const list = await ctl('service', 'list');
    servicePid = list?.find((s) => s.state === 'running')?.pid ?? null;
    if (!servicePid) await sleep(100);
  }
  console.error(`bench: supervisor on port ${port}, service pid ${servicePid}`);
  // Garbage from logging in is not what a connection holds: collect it before each reading.
  const heap = async () => await ctl('debug', 'gc');
  const ours = await measure('supervisor + service (login)', `ws://127.0.0.1:${port}/example.com/bench/ws`, [sup.pid, servicePid], true, heap);
  sup.kill('SIGTERM');
  await new Promise((r) => sup.once('exit', r));

  // The reference: a bare uWS echo server.
  const uws = join(repo, 'dist', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  const code = `const u=require(${JSON.stringify(uws)});u.App().ws('/*',{maxPayloadLength:16*1024*1024,idleTimeout:120,message:(ws,m,b)=>ws.send(m,b)}).listen('127.0.0.1',0,s=>console.log('port '+u.us_socket_local_port(s)))`;
  const bare = spawn(process.execPath, [...BOARD_FLAGS, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(bare);
  const [, barePort] = await waitOutput(bare, /port (\d+)/);
  const reference = await measure('bare uWS echo (reference)', `ws://127.0.0.1:${barePort}/`, [bare.pid], false);
  bare.kill('SIGTERM');

  const f = (n, d = 0) => n.toFixed(d);
  console.log(`node ${process.version} ${process.arch}, servers with the ${BOARD} board's flags (${BOARD_FLAGS.join(' ')}); ${MEMORY_CONNS} idle connections for memory, ${THROUGHPUT_CONNS} for throughput over ${SECONDS} s, 64-byte messages`);
  console.log('| server | supervisor B/conn (VmRSS / RssAnon) | service B/conn (VmRSS / RssAnon) | round trips/s | CPU µs/round trip | p50 µs | p99 µs |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of [ours, reference]) {
    const svc = r.rss.length > 1 ? `${f(r.rss[1])} / ${f(r.anon[1])}` : '—';
    console.log(`| ${r.name} | ${f(r.rss[0])} / ${f(r.anon[0])} | ${svc} | ${f(r.rps)} | ${f(r.cpuUs, 1)} | ${f(r.p50)} | ${f(r.p99)} |`);
  }
  console.log(`round trips: ${(ours.rps / reference.rps).toFixed(2)}× the bare uWS server; supervisor JS heap in use: ${f(ours.heap ?? 0)} B/conn`);
  if (WARMUP > 0) {
    const cold = (r) => `${f(r.cold.rss[0])} / ${f(r.cold.anon[0])}${r.rss.length > 1 ? `, service ${f(r.cold.rss[1])} / ${f(r.cold.anon[1])}` : ''}`;
    console.log(`memory above is marginal (read after ${WARMUP} connections were opened and closed); from idle, one-time costs included: ours ${cold(ours)} B/conn, bare ${cold(reference)} B/conn (VmRSS / RssAnon)`);
  }
} finally {
  for (const c of children) c.kill('SIGKILL');
  await sleep(300);
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
