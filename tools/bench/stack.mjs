#!/usr/bin/env node
// The whole stack's memory (issue 18): the supervisor with a board's Node flags
// and its managed PostgreSQL with that board's settings, 3 app services (the
// pbxecho test service installed three times) with 2 instances each, N
// WebSockets logged in through the PBX login and spread over the 6 instances,
// echo traffic and database writes by every instance; then the PSS of each
// part from /proc/<pid>/smaps_rollup, as the box sees it (no forced garbage
// collection; the supervisor's figure after `ap ctl debug gc` stands beside).
// The whole stack runs inside a memory cgroup of --cgroup MB (v1 or v2, when
// one can be made; 0: none) for --seconds of traffic, and the OOM kills in it
// are reported. Also: the idle supervisor's VmRSS with one Manager page loaded.
//   npm run build && node tools/bench/stack.mjs [--board ipx10] [--ws 2000] [--seconds 60] [--cgroup 200]
//        [--rate 200 (messages/s over all sockets)] [--db-rate 1 (writes/s per instance)]
//        [--extra-flags "--no-opt" (added to the board's, for the supervisor)] [--first-boot] [--verbose]
//        [--fixture DIR (pbxecho already built, as arm.mjs does for a guest without esbuild)]
// --first-boot measures the stack on the supervisor's first start (initdb,
// migrations, the instances provisioned); by default it is restarted first,
// as a box runs after its first boot.
// Prints numbers; asserts nothing.
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { openMany } from './pbx-client.mjs';
import { cpuSeconds, descendants, distinctBytes, processTable, pssBytes, read, residentByMapping, statusBytes, sumPss } from './procmem.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const BOARD = opt('board', 'ipx10');
const WS = Number(opt('ws', 2000));
const SECONDS = Number(opt('seconds', 60));
const CGROUP_MB = Number(opt('cgroup', 200));
const RATE = Number(opt('rate', 200));
const DB_RATE = Number(opt('db-rate', 1));
const VERBOSE = args.includes('--verbose');
const EXTRA_FLAGS = (opt('extra-flags', '') ?? '').split(' ').filter(Boolean);
const FIRST_BOOT = args.includes('--first-boot');
const FIXTURE = opt('fixture', null);
const PASSWORD = 'bench-password';
const DOMAIN = 'example.com';
const SERVICES = ['stack1', 'stack2', 'stack3'];
const INSTANCES = SERVICES.flatMap((service, s) => ['a', 'b'].map((x) => ({ service, name: `i${s + 1}${x}` })));
const board = JSON.parse(readFileSync(join(repo, 'board', BOARD, 'board.json'), 'utf8'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('bench:', ...a);
const mb = (bytes, d = 1) => (bytes / 1048576).toFixed(d);

// ---- the memory cgroup ------------------------------------------------------

/** A memory cgroup of `limitMb` for the stack, v1 or v2; { reason } when none can be made. */
function makeCgroup(limitMb) {
  if (!limitMb) return { reason: '--cgroup 0' };
  const name = `ap-bench-stack-${process.pid}`;
  const v1 = '/sys/fs/cgroup/memory';
  try {
    if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
      const dir = join(v1, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitMb * 1048576));
      return {
        dir, version: 1,
        oomKills: () => Number(/^oom_kill (\d+)/m.exec(read(join(dir, 'memory.oom_control')) ?? '')?.[1] ?? NaN),
        peak: () => Number(read(join(dir, 'memory.max_usage_in_bytes'))),
        usage: () => Number(read(join(dir, 'memory.usage_in_bytes'))),
      };
    }
    for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
      if (!(read(join(root, 'cgroup.controllers')) ?? '').split(/\s+/).includes('memory')) continue;
      if (!(read(join(root, 'cgroup.subtree_control')) ?? '').split(/\s+/).includes('memory')) writeFileSync(join(root, 'cgroup.subtree_control'), '+memory');
      const dir = join(root, name);
      mkdirSync(dir);
      writeFileSync(join(dir, 'memory.max'), String(limitMb * 1048576));
      return {
        dir, version: 2,
        oomKills: () => Number(/^oom_kill (\d+)/m.exec(read(join(dir, 'memory.events')) ?? '')?.[1] ?? NaN),
        peak: () => Number(read(join(dir, 'memory.peak')) ?? NaN), // kernel ≥ 5.19
        usage: () => Number(read(join(dir, 'memory.current'))),
      };
    }
    return { reason: 'no memory controller: neither a v1 hierarchy nor a v2 one with "memory" in cgroup.controllers' };
  } catch (err) {
    return { reason: `cannot make a memory cgroup: ${err.message}` };
  }
}

// ---- the stack ----------------------------------------------------------------

const root = mkdtempSync(join(tmpdir(), 'ap-bench-stack-'));
chmodSync(root, 0o755);
let sup = null;
let cgroup = null;
let clients = [];
let cleaning = null;

async function cleanup() {
  cleaning ??= (async () => {
    for (const ws of clients) ws.terminate();
    if (sup && sup.exitCode === null && sup.signalCode === null) {
      // SIGTERM: the supervisor stops its services and PostgreSQL itself.
      const exited = new Promise((r) => sup.once('exit', r));
      sup.kill('SIGTERM');
      const timer = setTimeout(() => sup.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    if (cgroup?.dir) {
      // Whatever the supervisor left behind in the group, by PID.
      for (let i = 0; i < 50; i++) {
        const left = (read(join(cgroup.dir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number);
        if (left.length === 0) break;
        if (i === 20) for (const pid of left) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        await sleep(100);
      }
      try { rmdirSync(cgroup.dir); } catch (err) { log(`cgroup ${cgroup.dir} left: ${err.message}`); }
    }
    rmSync(root, { recursive: true, force: true });
  })();
  return cleaning;
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

function ctl(...a) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [join(repo, 'dist/ap.js'), 'ctl', ...a, '--json', '--root', join(root, 'r')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    c.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out || 'null')) : reject(new Error(`ap ctl ${a.join(' ')}: exit ${code}: ${out}${err}`))));
  });
}

function waitOutput(child, pattern, text = { value: '' }) {
  return new Promise((resolve, reject) => {
    const on = (c) => {
      text.value += c;
      const m = pattern.exec(text.value);
      if (m) {
        child.stdout.off('data', on);
        child.stderr.off('data', on);
        resolve(m);
      }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${text.value}`)));
  });
}

/** PSS of every part of the stack, PostgreSQL's backends classified with pg_stat_activity. */
async function measureStack(db, services) {
  const table = processTable();
  const supervisor = { pss: pssBytes(sup.pid), rss: statusBytes(sup.pid, 'VmRSS'), anon: statusBytes(sup.pid, 'RssAnon'), mappings: residentByMapping(sup.pid) };
  const perService = services.map((s) => {
    const pids = s.pid ? descendants(table, s.pid) : [];
    if (VERBOSE && s.pid) log(`service ${s.name} resident by mapping: ${mappingLine(residentByMapping(s.pid))}`);
    return { name: s.name, pids, pss: sumPss(pids), rss: pids.reduce((t, p) => t + statusBytes(p, 'VmRSS'), 0), anon: pids.reduce((t, p) => t + statusBytes(p, 'RssAnon'), 0) };
  });
  const postmaster = [...table].find(([, p]) => p.ppid === sup.pid && p.comm === 'postgres')?.[0];
  const own = Number((await db`SELECT pg_backend_pid() AS pid`)[0].pid);
  const activity = new Map((await db`SELECT pid, backend_type, datname, usename, application_name FROM pg_stat_activity`).map((r) => [r.pid, r]));
  const backends = descendants(table, postmaster).slice(1).filter((pid) => pid !== own).map((pid) => {
    const a = activity.get(pid);
    let kind;
    if (!a) kind = `other (${table.get(pid)?.comm})`;
    else if (a.backend_type !== 'client backend') kind = `server: ${a.backend_type}`;
    else if (a.application_name === 'ap-supervisor') kind = `supervisor (${a.datname})`;
    else {
      const instance = INSTANCES.find((i) => a.datname === i.database);
      kind = instance ? `instance ${instance.name}@${DOMAIN}` : `client of ${a.datname} (${a.application_name || a.usename})`;
    }
    return { pid, kind, client: a?.backend_type === 'client backend', pss: pssBytes(pid), db: a?.datname ?? null };
  });
  const pg = { postmaster: pssBytes(postmaster), backends };
  pg.total = pg.postmaster + backends.reduce((t, b) => t + b.pss, 0);
  const counted = new Set([sup.pid, postmaster, own, ...backends.map((b) => b.pid), ...perService.flatMap((s) => s.pids)]);
  const others = descendants(table, sup.pid).filter((pid) => !counted.has(pid));
  const other = sumPss(others);
  const total = supervisor.pss + perService.reduce((t, s) => t + s.pss, 0) + pg.total + other;
  const pgPids = [postmaster, ...backends.map((b) => b.pid)].filter((pid) => pid !== undefined);
  const servicePids = perService.flatMap((s) => s.pids);
  const distinct = {
    all: distinctBytes([sup.pid, ...pgPids, ...servicePids, ...others]),
    supervisor: distinctBytes([sup.pid]),
    services: distinctBytes(servicePids),
    postgres: distinctBytes(pgPids),
  };
  return { supervisor, services: perService, pg, other, others: others.map((p) => table.get(p)?.comm), total, distinct };
}

/** The resident memory of one process by mapping, biggest first: where its VmRSS goes. */
function mappingLine(by) {
  return [...by].sort((a, b) => b[1] - a[1]).filter(([, bytes]) => bytes >= 256 * 1024).map(([name, bytes]) => `${name.split('/').pop()} ${mb(bytes)}`).join(', ');
}

function report(label, m) {
  console.log(`\n${label}`);
  console.log('| part | processes | PSS (MB) |');
  console.log('| --- | --- | --- |');
  console.log(`| supervisor (VmRSS ${mb(m.supervisor.rss)}, RssAnon ${mb(m.supervisor.anon)}) | 1 | ${mb(m.supervisor.pss)} |`);
  for (const s of m.services) console.log(`| service ${s.name} (VmRSS ${mb(s.rss)}, RssAnon ${mb(s.anon)}) | ${s.pids.length} | ${mb(s.pss)} |`);
  const groups = new Map();
  for (const b of m.pg.backends) {
    const key = b.kind.startsWith('instance') ? 'instances\' connections' : b.kind;
    const g = groups.get(key) ?? { n: 0, pss: 0 };
    g.n++;
    g.pss += b.pss;
    groups.set(key, g);
  }
  console.log(`| PostgreSQL, all | ${1 + m.pg.backends.length} | ${mb(m.pg.total)} |`);
  console.log(`| · postmaster | 1 | ${mb(m.pg.postmaster)} |`);
  for (const [k, g] of [...groups].sort()) console.log(`| · ${k} | ${g.n} | ${mb(g.pss)} (${mb(g.pss / g.n)} each) |`);
  if (m.others.length) console.log(`| other children of the supervisor (${m.others.join(', ')}) | ${m.others.length} | ${mb(m.other)} |`);
  console.log(`| **total** | ${2 + m.services.reduce((t, s) => t + s.pids.length, 0) + m.pg.backends.length + m.others.length} | **${mb(m.total)}** |`);
  const d = m.distinct;
  console.log(`the stack alone (its processes' distinct physical pages, each counted once: what it takes on a box where nothing else maps the same files): ${mb(d.all)} MB; each part alone: supervisor ${mb(d.supervisor)}, services ${mb(d.services)}, PostgreSQL ${mb(d.postgres)} (their sum less the total, ${mb(d.supervisor + d.services + d.postgres - d.all)}, is what the parts share: Node's and the C libraries' pages)`);
  const clientsPg = m.pg.backends.filter((b) => b.client);
  console.log(`PostgreSQL client connections: ${clientsPg.length}, PSS each ${clientsPg.map((b) => mb(b.pss)).join(' ')} MB`);
  if (VERBOSE) for (const b of m.pg.backends) log(`pg ${b.pid} ${b.kind} ${mb(b.pss, 2)} MB`);
  if (VERBOSE) log(`supervisor resident by mapping: ${mappingLine(m.supervisor.mappings)}`);
}

try {
  let built = FIXTURE;
  if (!built) {
    register('../ts-loader.mjs', import.meta.url);
    const { buildFixture } = await import('../../test/harness/supervisor.ts');
    built = await buildFixture('pbxecho', join(root, 'build'));
  }
  const packages = SERVICES.map((name) => {
    const dir = join(root, 'packages', name);
    cpSync(built, dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, 'app.json'), 'utf8'));
    writeFileSync(join(dir, 'app.json'), JSON.stringify({ ...manifest, name, title: `${manifest.title} as ${name}` }));
    return dir;
  });
  mkdirSync(join(root, 'r/etc'), { recursive: true });
  writeFileSync(join(root, 'r/etc/ap.json'), JSON.stringify({ instances: INSTANCES.map((i) => ({ ...i, domain: DOMAIN, password: PASSWORD })) }));

  cgroup = makeCgroup(CGROUP_MB);
  const flags = [...board.nodeFlags, ...EXTRA_FLAGS];
  // --expose-gc only lets `ap ctl debug gc` give the after-collection figure; nothing collects on its own because of it.
  const argv = [process.execPath, ...flags, '--expose-gc', join(repo, 'dist/ap.js'), 'serve', '--root', join(root, 'r'), '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--host', '127.0.0.1', '--board', BOARD, '--db', 'managed', '--ws-login-max', '256'];
  // The first boot (initdb, migrations, the first password and certificate) is a one-off: the box runs after a restart.
  if (!FIRST_BOOT) {
    sup = spawn(argv[0], argv.slice(1), { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    await waitOutput(sup, /ready: Manager at /);
    const firstBoot = { rss: statusBytes(sup.pid, 'VmRSS'), anon: statusBytes(sup.pid, 'RssAnon') };
    const stopped = new Promise((r) => sup.once('exit', r));
    sup.kill('SIGTERM');
    await stopped;
    log(`first boot done: supervisor VmRSS ${mb(firstBoot.rss)} MB at ready`);
  }
  // The shell joins the group and becomes the supervisor: PostgreSQL and the services start inside it.
  const command = cgroup.dir ? ['/bin/sh', '-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', join(cgroup.dir, 'cgroup.procs'), ...argv] : argv;
  sup = spawn(command[0], command.slice(1), { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const supText = { value: '' };
  const [, managerPort] = await waitOutput(sup, /ready: Manager at http:\/\/[^\s]*:(\d+)\//, supText);
  const appPort = /apps at http:\/\/[^\s]*:(\d+)\//.exec(supText.value)[1];
  sup.stdout.resume();
  sup.stderr.resume();
  log(`supervisor pid ${sup.pid}, apps on ${appPort}, Manager on ${managerPort}; ${cgroup.dir ? `cgroup v${cgroup.version} ${cgroup.dir} (${CGROUP_MB} MB)` : `no cgroup: ${cgroup.reason}`}`);

  // The idle supervisor with the Manager loaded: its page and what the page loads first.
  const manager = `http://127.0.0.1:${managerPort}`;
  const page = await (await fetch(`${manager}/manager/`)).text();
  for (const [, asset] of page.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)) await (await fetch(new URL(asset, `${manager}/manager/`))).arrayBuffer();
  await sleep(2000);
  const idle = { rss: statusBytes(sup.pid, 'VmRSS'), anon: statusBytes(sup.pid, 'RssAnon'), pss: pssBytes(sup.pid) };

  // --force: the memory budget's admission (docs/budget.md) would refuse the
  // second or third service on the ipx10 budget; the bench measures what they
  // take instead.
  for (const dir of packages) await ctl('service', 'install', dir, '--force');
  for (;;) {
    const { instances } = await ctl('instance', 'list');
    if (INSTANCES.every((i) => instances.find((x) => x.name === i.name)?.state === 'running')) {
      for (const i of INSTANCES) i.database = instances.find((x) => x.name === i.name).database.name;
      break;
    }
    await sleep(200);
  }
  const status = await ctl('status');
  const db = postgres({ path: `${status.db.socketDir}/.s.PGSQL.${status.db.port}`, database: 'postgres', username: 'postgres', max: 1, onnotice: () => {} });

  const t0 = Date.now();
  clients = await openMany(WS, (i) => {
    const inst = INSTANCES[i % INSTANCES.length];
    return { url: `ws://127.0.0.1:${appPort}/${DOMAIN}/${inst.name}/ws`, login: { app: inst.name, domain: DOMAIN, password: PASSWORD } };
  });
  log(`${clients.length} WebSockets logged in over ${INSTANCES.length} instances in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Traffic: RATE messages a second round the sockets, each echoed; DB_RATE writes a second per instance.
  let sent = 0;
  let echoed = 0;
  let writes = 0;
  let failedWrites = 0;
  /** Why writes failed: HTTP status or the error, with a count each. */
  const failures = new Map();
  const failed = (why) => {
    failedWrites++;
    failures.set(why, (failures.get(why) ?? 0) + 1);
  };
  for (const ws of clients) ws.on('message', () => echoed++);
  const tick = 100;
  const perTick = Math.max(1, Math.round((RATE * tick) / 1000));
  const msgTimer = setInterval(() => {
    for (let k = 0; k < perTick; k++) clients[sent++ % clients.length].send(`traffic ${sent}`);
  }, tick);
  const dbTimer = setInterval(() => {
    for (const i of INSTANCES) {
      fetch(`http://127.0.0.1:${appPort}/${DOMAIN}/${i.name}/dbcount`).then(
        async (r) => {
          const body = Buffer.from(await r.arrayBuffer()).toString('utf8', 0, 120);
          if (r.ok) writes++;
          else failed(`HTTP ${r.status} ${body.replace(/\s+/g, ' ')}`);
        },
        (err) => failed(`${err.message}${err.cause ? ` (${err.cause.code ?? err.cause.message})` : ''}`),
      );
    }
  }, 1000 / DB_RATE);
  const samples = [];
  const serviceList = (await ctl('service', 'list')).filter((s) => SERVICES.includes(s.name));
  const cpu = () => ({ supervisor: cpuSeconds(sup.pid), services: serviceList.reduce((t, s) => t + cpuSeconds(s.pid), 0) });
  const cpu0 = cpu();
  const end = Date.now() + SECONDS * 1000;
  while (Date.now() < end) {
    await sleep(Math.min(5000, end - Date.now()));
    if (cgroup.dir) samples.push(cgroup.usage());
  }
  clearInterval(msgTimer);
  clearInterval(dbTimer);
  const cpu1 = cpu();
  await sleep(1000); // the last echoes and writes come back
  const services = (await ctl('service', 'list')).filter((s) => SERVICES.includes(s.name));
  const stack = await measureStack(db, services);
  const oomKills = cgroup.dir ? cgroup.oomKills() : null;
  const peak = cgroup.dir ? cgroup.peak() : null;
  const gc = await ctl('debug', 'gc').catch(() => null);
  const afterGc = { rss: statusBytes(sup.pid, 'VmRSS'), pss: pssBytes(sup.pid) };
  await db.end({ timeout: 1 });

  console.log(`node ${process.version} ${process.arch}; board ${BOARD}: node flags ${flags.join(' ')}${FIRST_BOOT ? ' (first boot)' : ''}, PostgreSQL ${Object.entries(board.postgres).filter(([k]) => /shared_buffers|max_connections|work_mem$/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ')}, dbPool ${board.dbPool}`);
  console.log(`idle supervisor, Manager page loaded: VmRSS ${mb(idle.rss)} MB, RssAnon ${mb(idle.anon)} MB, PSS ${mb(idle.pss)} MB`);
  console.log(`${clients.filter((ws) => ws.readyState === 1).length} of ${WS} WebSockets open over ${INSTANCES.length} instances of ${SERVICES.length} services; ${SECONDS} s of traffic: ${sent} messages sent, ${echoed} echoed, ${writes} database writes (${failedWrites} failed${failures.size ? `: ${[...failures].map(([why, n]) => `${n}× ${why}`).join('; ')}` : ''})`);
  const perMessage = (k) => ((cpu1[k] - cpu0[k]) * 1e6) / Math.max(1, echoed);
  console.log(`CPU during the traffic: supervisor ${(cpu1.supervisor - cpu0.supervisor).toFixed(2)} s (${perMessage('supervisor').toFixed(0)} µs per echoed message, writes included), services ${(cpu1.services - cpu0.services).toFixed(2)} s (${perMessage('services').toFixed(0)} µs)`);
  report(`PSS after the traffic, sockets open (${cgroup.dir ? `inside a ${CGROUP_MB} MB memory cgroup` : 'no cgroup'}):`, stack);
  if (gc) console.log(`supervisor after \`ap ctl debug gc\`: VmRSS ${mb(afterGc.rss)} MB, PSS ${mb(afterGc.pss)} MB (heap in use ${mb(gc.heapUsed)} MB)`);
  if (cgroup.dir) {
    console.log(`cgroup v${cgroup.version}, limit ${CGROUP_MB} MB: OOM kills ${oomKills}; charged peak ${Number.isFinite(peak) ? `${mb(peak)} MB` : 'n/a'}, during traffic ${samples.map((b) => mb(b, 0)).join(' ')} MB (page cache included)`);
  } else {
    console.log(`no memory cgroup: ${cgroup.reason}`);
  }
} finally {
  await cleanup();
}
process.exit(0);
