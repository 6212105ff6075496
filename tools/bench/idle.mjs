#!/usr/bin/env node
// Idle footprint of the supervisor: start-to-ready time and resident memory of
// `dist/ap.js serve` (managed PostgreSQL, dev board) with the board's Node
// flags, next to a bare uWebSockets.js server in the same run as the reference.
//   npm run build && node tools/bench/idle.mjs [--board ipx10] [--runs 5] [--manager] [--extra-flags "--no-opt"]
// --manager: the supervisor is read after one Manager page (and the script and
// style it loads) was fetched, as a browser opening the Manager would.
// --extra-flags: Node flags added to the board's, for the supervisor only.
// Two references in the same run: "bare", a uWebSockets.js server alone, and
// "floor", the same plus the Node built-ins the supervisor cannot start
// without (crypto, net and tls for the PostgreSQL client, child_process to run
// PostgreSQL, fs/promises, streams, perf_hooks) and a listening Unix socket (ctl):
// what any Node supervisor on uWS pays before a line of its own code.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const board = opt('board', 'ipx10');
const runs = Number(opt('runs', 5));
const manager = args.includes('--manager');
const extra = opt('extra-flags', '').split(' ').filter(Boolean);

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
// Private memory: VmRSS also counts pages of the node binary (ICU data, code), shared with every Node service and reclaimable.
const anonKb = (pid) => Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function start(argv, readyPattern) {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, argv, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      text += chunk;
      if (readyPattern.test(text)) {
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        resolve({ child, ms: Number(process.hrtime.bigint() - t0) / 1e6, text });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code} before ready:\n${text}`)));
  });
}

async function stop(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const flags = (await new Promise((resolve) => {
  const c = spawn(process.execPath, [join(repo, 'dist/ap.js'), 'node-flags', '--board', board]);
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  c.once('exit', () => resolve(out.trim()));
})).split(' ').filter(Boolean);

const bare = `const u=require(${JSON.stringify(join(repo, 'dist', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`))});` +
  `u.App().get('/*',r=>r.end('ok')).listen('127.0.0.1',0,s=>console.log(s?'ready':'failed'));process.on('SIGTERM',()=>process.exit(0))`;

const floor = `for(const m of ['crypto','net','tls','child_process','fs/promises','stream','stream/promises','os','perf_hooks','url','module','util'])require(m);` +
  `require('child_process').spawnSync('true');require('net').createServer().listen('\\0ap-idle-floor-'+process.pid);${bare}`;

const results = { supervisor: { ms: [], rss: [], anon: [] }, bare: { ms: [], rss: [], anon: [] }, floor: { ms: [], rss: [], anon: [] } };
for (let i = 0; i < runs; i++) {
  const root = mkdtempSync(join(tmpdir(), 'ap-bench-'));
  chmodSync(root, 0o755);
  try {
    // First boot (initdb) is a one-off; measure the second, the everyday start.
    const first = await start([...flags, ...extra, 'dist/ap.js', 'serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0'], /ready: Manager/);
    await stop(first.child);
    const sup = await start([...flags, ...extra, 'dist/ap.js', 'serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0'], /ready: Manager/);
    if (manager) {
      const base = `http://127.0.0.1:${/ready: Manager at http:\/\/[^\s]*:(\d+)\//.exec(sup.text)[1]}/manager/`;
      const page = await (await fetch(base)).text();
      for (const [, asset] of page.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)) await (await fetch(new URL(asset, base))).arrayBuffer();
    }
    await new Promise((r) => setTimeout(r, 1000)); // let start-up garbage settle
    results.supervisor.ms.push(sup.ms);
    results.supervisor.rss.push(rssKb(sup.child.pid));
    results.supervisor.anon.push(anonKb(sup.child.pid));
    await stop(sup.child);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  for (const [name, script] of [['bare', bare], ['floor', floor]]) {
    const ref = await start([...flags, '-e', script], /ready/);
    await new Promise((r) => setTimeout(r, 1000));
    results[name].ms.push(ref.ms);
    results[name].rss.push(rssKb(ref.child.pid));
    results[name].anon.push(anonKb(ref.child.pid));
    await stop(ref.child);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`node ${process.version}, ${process.arch}, flags for ${board}: ${flags.join(' ') || '(none)'}${extra.length ? `, the supervisor also ${extra.join(' ')}` : ''}; ${runs} runs, medians${manager ? '; the supervisor read after one Manager page' : ''}`);
console.log('                         start→ready   VmRSS       RssAnon (supervisor process only)');
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(24)} ${median(r.ms).toFixed(0).padStart(8)} ms   ${(median(r.rss) / 1024).toFixed(1).padStart(6)} MiB  ${(median(r.anon) / 1024).toFixed(1).padStart(6)} MiB`);
}
for (const ref of ['bare', 'floor']) {
  const d = (k) => ((median(results.supervisor[k]) - median(results[ref][k])) / 1024).toFixed(1).padStart(6);
  console.log(`${`supervisor − ${ref}:`.padEnd(24)} ${(median(results.supervisor.ms) - median(results[ref].ms)).toFixed(0).padStart(8)} ms   ${d('rss')} MiB  ${d('anon')} MiB`);
}
