#!/usr/bin/env node
// How long a PBX notices a crash of its app service: the supervisor keeps the
// WebSockets open while the service is restarted, queues what arrives
// meanwhile and hands it to the new process. This bench measures the pause.
//   npm run build && node tools/bench/restart.mjs [--ws 200] [--board x86_64] [--stable 62] [--interval 5]
// One pbxecho instance, --ws logged-in PBX WebSockets (tools/bench/pbx-client.mjs);
// a probe socket sends a numbered message every --interval ms and times each
// echo. After the service has run stably (the supervision's stable mark is at
// 60 s: --stable waits that long), its process is killed with SIGKILL: the
// first restart after a stable run is immediate. Then it is killed again at
// once, before it runs stably: that restart waits the backoff's first delay
// (1 s), the reference in the same run. Then a deliberate restart and an
// update (the package installed again). For each: the longest pause between
// two echoes from the act on, the messages sent during it
// (delayed, echoed late), those
// never echoed (lost: target 0), the slowest echo, and whether every socket
// stayed open.
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { client, openMany } from './pbx-client.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const WS = Number(opt('ws', 200));
const BOARD = opt('board', 'x86_64');
const STABLE_S = Number(opt('stable', 62));
const INTERVAL = Number(opt('interval', 5));
const PASSWORD = 'bench-password';
const DOMAIN = 'example.com';
const INSTANCE = { service: 'pbxecho', name: 'r1' };
const board = JSON.parse(readFileSync(join(repo, 'board', BOARD, 'board.json'), 'utf8'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('bench:', ...a);
const root = mkdtempSync(join(tmpdir(), 'ap-bench-restart-'));
chmodSync(root, 0o755);
let sup = null;
let clients = [];

function ctl(...a) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [join(repo, 'dist/ap.js'), 'ctl', ...a, '--json', '--root', join(root, 'r')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out || 'null')) : reject(new Error(`ap ctl ${a.join(' ')}: exit ${code}: ${out}`))));
  });
}

async function cleanup() {
  for (const ws of clients) ws.terminate();
  if (sup && sup.exitCode === null && sup.signalCode === null) {
    const exited = new Promise((r) => sup.once('exit', r));
    sup.kill('SIGTERM');
    const timer = setTimeout(() => sup.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(root, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

async function servicePid() {
  for (;;) {
    const s = (await ctl('service', 'list')).find((x) => x.name === INSTANCE.service);
    if (s?.state === 'running' && s.pid) return s.pid;
    await sleep(50);
  }
}

try {
  register('../ts-loader.mjs', import.meta.url);
  const { buildFixture } = await import('../../test/harness/supervisor.ts');
  const built = await buildFixture('pbxecho', join(root, 'build'));
  const dir = join(root, 'package');
  cpSync(built, dir, { recursive: true });
  mkdirSync(join(root, 'r/etc'), { recursive: true });
  writeFileSync(join(root, 'r/etc/ap.json'), JSON.stringify({ instances: [{ ...INSTANCE, domain: DOMAIN, password: PASSWORD }] }));
  const argv = [...board.nodeFlags, join(repo, 'dist/ap.js'), 'serve', '--root', join(root, 'r'), '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--host', '127.0.0.1', '--board', BOARD, '--db', 'managed', '--ws-login-max', '256'];
  sup = spawn(process.execPath, argv, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const appPort = await new Promise((resolve, reject) => {
    const on = (d) => {
      text += d;
      const m = /apps at http:\/\/[^\s]*:(\d+)\//.exec(text);
      if (m && /ready: Manager at /.test(text)) resolve(Number(m[1]));
    };
    sup.stdout.on('data', on);
    sup.stderr.on('data', on);
    sup.once('exit', (code) => reject(new Error(`the supervisor exited (${code}): ${text.slice(-2000)}`)));
  });
  await ctl('service', 'install', dir, '--force');
  const firstPid = await servicePid();
  const readyAt = Date.now();
  const target = () => ({ url: `ws://127.0.0.1:${appPort}/${DOMAIN}/${INSTANCE.name}/ws`, login: { app: INSTANCE.name, domain: DOMAIN, password: PASSWORD } });
  clients = await openMany(WS, target);
  const probe = await client(target().url, WS, target().login);
  clients.push(probe);
  log(`supervisor pid ${sup.pid}, service pid ${firstPid}, ${clients.length} WebSockets logged in; waiting for the stable mark (${STABLE_S} s after ready)`);

  // The probe: a numbered message every INTERVAL ms, each echo timed.
  const sent = new Map();
  const echoed = new Map();
  let seq = 0;
  probe.on('message', (data) => {
    const m = /^probe (\d+)$/.exec(data.toString());
    if (m && !echoed.has(Number(m[1]))) echoed.set(Number(m[1]), Date.now());
  });
  const timer = setInterval(() => {
    sent.set(++seq, Date.now());
    probe.send(`probe ${seq}`);
  }, INTERVAL);

  /** Does `act` (a kill, a restart, an update) under the probe's traffic and reports what the probe saw. */
  async function measure(label, act) {
    const pid = await servicePid();
    await sleep(1000); // steady traffic before
    const from = seq + 1;
    const startedAt = Date.now();
    await act(pid);
    // Until the new process runs and echoes, then 3 s more for the late ones.
    for (;;) {
      const now = await servicePid();
      if (now !== pid) break;
      if (Date.now() - startedAt > 30_000) throw new Error(`${label}: no new process within 30 s`);
      await sleep(20);
    }
    const newAt = Date.now();
    while (![...echoed.values()].some((at) => at > newAt)) {
      if (Date.now() - startedAt > 30_000) throw new Error(`${label}: no echo within 30 s`);
      await sleep(5);
    }
    await sleep(3000);
    // The pause: the longest gap between echoes from the moment of the act on.
    const times = [startedAt, ...[...echoed.values()].filter((at) => at >= startedAt)].sort((x, y) => x - y);
    let pause = 0;
    for (let i = 1; i < times.length; i++) pause = Math.max(pause, times[i] - times[i - 1]);
    const to = seq;
    let delayed = 0;
    let lost = 0;
    const lostAt = [];
    let slowest = 0;
    for (let n = from; n <= to; n++) {
      const at = echoed.get(n);
      if (at === undefined) {
        if (sent.get(n) < Date.now() - 1000) {
          lost++;
          lostAt.push(`+${sent.get(n) - startedAt} ms`);
        }
        continue;
      }
      const took = at - sent.get(n);
      slowest = Math.max(slowest, took);
      if (took > 50) delayed++;
    }
    const open = clients.filter((ws) => ws.readyState === 1).length;
    const newPid = await servicePid();
    console.log(`${label}: longest pause ${pause} ms, ${delayed} messages delayed, ${lost} lost${lostAt.length ? ` (sent ${lostAt.join(', ')} after it began)` : ''}, slowest echo ${slowest} ms; ${open} of ${clients.length} sockets open; pid ${pid} → ${newPid}`);
  }

  const wait = readyAt + STABLE_S * 1000 - Date.now();
  if (wait > 0) await sleep(wait);
  console.log(`node ${process.version}, board ${BOARD}: one pbxecho instance, ${WS} PBX WebSockets + a probe sending every ${INTERVAL} ms`);
  const kill = (pid) => process.kill(pid, 'SIGKILL');
  await measure('crash after a stable run (restarted at once)', kill);
  await measure('crash again before it ran stably (the backoff\'s first delay)', kill);
  await measure('ap ctl service restart', () => ctl('service', 'restart', INSTANCE.service));
  await measure('an update (the package installed again)', () => ctl('service', 'install', dir, '--force'));
  clearInterval(timer);
} catch (err) {
  console.error(`bench: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
