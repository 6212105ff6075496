// App services held to their limits by cgroups (issue 18, item 1), against
// the machine's real hierarchy (v1 on the CI machine, v2 on a box): a leak is
// killed at its memory limit and recorded as such, a fork bomb stops at its
// process limit, CPU is shared by weight, and a changed setting is written
// into the kernel at once. Needs root and a writable hierarchy; skips with the
// reason elsewhere (.ci/run requires it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { groupName } from '../../src/cgroup';
import { fetchRaw, until } from '../harness/http';
import { cgroupLayout, missing } from '../harness/optional';
import { ctl, serve, stateOf, stop } from '../harness/services';
import { alive, ensureStopped, readyPorts, runApSync, type Run } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

const skip = missing('cgroup') ?? false;
const MB = 1024 * 1024;

let dir: string;
let root: string;
let run: Run;
let ports: { app: number; manager: number };

/** The service's group folder for `controller` (v1) or its one folder (v2). */
function group(service: string, controller: 'memory' | 'cpu' | 'cpuacct' | 'pids'): string {
  const layout = cgroupLayout();
  if (layout.version === null) throw new Error(layout.reason);
  return join(layout.version === 2 ? layout.own : layout.own[controller], groupName(root), service);
}
const v2 = () => cgroupLayout().version === 2;
const readGroup = (service: string, controller: 'memory' | 'cpu' | 'cpuacct' | 'pids', v1File: string, v2File: string) =>
  readFileSync(join(group(service, controller), v2() ? v2File : v1File), 'utf8').trim();
const memoryLimit = (service: string) => Number(readGroup(service, 'memory', 'memory.limit_in_bytes', 'memory.max'));
const procsOf = (service: string) => readFileSync(join(group(service, 'pids'), 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);

/** A package `<dir>/packages/<name>` with `app` merged into its app.json and `files` (executable) beside it. */
async function pkg(name: string, app: Record<string, unknown>, files: Record<string, string> = {}): Promise<string> {
  const folder = join(dir, 'packages', name);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'app.json'), JSON.stringify({ name, version: '0.0.1', ...app }));
  for (const [file, text] of Object.entries(files)) {
    await writeFile(join(folder, file), text);
    await chmod(join(folder, file), 0o755);
  }
  return folder;
}

const install = async (folder: string) => {
  const done = ctl(root, 'service', 'install', folder, '--no-wait');
  assert.equal(done.status, 0, done.stderr);
};
type Shown = {
  state: string;
  pid: number | null;
  reason: string | null;
  limits: { memoryMB: number; instanceMB: number; memoryLimitMB: number; cpuWeight: number; pids: number; enforced: boolean; source: Record<string, string> };
  usage: { memoryBytes: number; memoryPeakBytes: number | null; cpuSeconds: number } | null;
  crashes: { signal: string | null; reason?: string; memoryLimitMB?: number }[];
};
const show = (name: string): Shown => {
  const done = ctl(root, 'service', 'show', name);
  assert.equal(done.status, 0, done.stderr);
  return JSON.parse(done.stdout) as Shown;
};

before(async () => {
  if (skip) return;
  dir = await workspace('ap-cgroup-');
  root = join(dir, 'root');
  // A group a killed supervisor left for a service that is gone since.
  for (const controller of ['memory', 'cpu', 'cpuacct', 'pids'] as const) mkdirSync(group('ghost', controller), { recursive: true });
  run = serve(root, '--monitor-interval', '1');
  ports = await readyPorts(run);
});
after(async () => {
  if (skip) return;
  await ensureStopped(run);
  execFileSync('rm', ['-rf', dir]);
});

describe('cgroup limits per service', { skip }, () => {
  it('kills a leaking service at its memory limit (not the supervisor, not PostgreSQL), records it as out of memory and restarts it', async () => {
    await run.waitFor(/app services run in their own cgroups: cgroup v[12]/);
    await run.waitFor(/removed the cgroups of services no longer installed: ghost/);
    assert.ok(!existsSync(group('ghost', 'memory')));
    // Leaks on its first run only (a file in its data folder says it ran), so the restart stays up.
    const leak = `const fs = require('fs'), ran = process.env.AP_DATA_DIR + '/ran';
      if (fs.existsSync(ran)) setInterval(() => {}, 1000);
      else { fs.writeFileSync(ran, ''); const kept = []; setInterval(() => kept.push(Buffer.alloc(2 << 20, 1)), 5); }`;
    await install(await pkg('leak', { entry: ['node', '-e', leak], resources: { memoryMB: 32, pids: 64 } }));
    const shown = await until('the out-of-memory crash record', async () => {
      const s = show('leak');
      return s.crashes[0] ? s : undefined;
    });
    const crash = shown.crashes[0]!;
    assert.deepEqual([crash.signal, crash.reason, crash.memoryLimitMB], ['SIGKILL', 'out-of-memory', 32]);
    assert.equal(shown.limits.memoryLimitMB, 32);
    assert.equal(shown.limits.source.memoryMB, 'package');
    assert.equal(memoryLimit('leak'), 32 * MB, 'the kernel holds it to 32 MB');
    const restarted = await until('leak restarted by the policy', async () => {
      const s = stateOf(root, 'leak');
      return s?.pid ? s : undefined;
    });
    assert.equal(restarted.reason, 'killed: out of memory (limit 32 MB)');
    const alarms = JSON.parse(ctl(root, 'alarms').stdout) as { active: { code: string; source: string; severity: string; text: string }[] };
    const alarm = alarms.active.find((a) => a.code === 'SERVICE_OUT_OF_MEMORY');
    assert.ok(alarm, JSON.stringify(alarms));
    assert.equal(alarm.source, 'service:leak');
    assert.equal(alarm.severity, 'major');
    assert.match(alarm.text, /app service leak was killed: out of memory \(limit 32 MB\)/);
    // The supervisor and its database lived through it.
    assert.ok(alive(run.child.pid!));
    const status = JSON.parse(ctl(root, 'status').stdout) as { state: string; db: { state: string } };
    assert.deepEqual([status.state, status.db.state], ['running', 'up']);
    // What people read.
    const text = runApSync(['ctl', 'service', 'show', 'leak', '--root', root]).stdout;
    assert.match(text, /^limits: {3}memory 32 MB \(32 MB \+ \d+ MB per instance, from package\/board\), cpu weight 100 \(board\), pids 64 \(package\)$/m);
    assert.match(text, /^usage: {4}memory [\d.]+ of 32 MB \(peak [\d.]+\), CPU [\d.]+ s$/m);
    assert.match(text, /^last crash: .*, killed: out of memory \(limit 32 MB\) after/m);
    assert.equal(ctl(root, 'service', 'stop', 'leak').status, 0);
  });

  it("runs a service's first instruction already inside its group", async () => {
    // The program's first act is to say where it is: a child moved in after it started would say otherwise.
    await install(await pkg('first', { entry: ['where.sh'] }, { 'where.sh': '#!/bin/sh\ncat /proc/self/cgroup\nexec sleep 1000\n' }));
    const log = await until('its first lines', async () => {
      const tail = JSON.parse(ctl(root, 'service', 'log', 'first').stdout) as { text: string };
      return tail.text.includes('::') ? tail.text : undefined;
    });
    // Lines are stamped with their time: "<ISO time> <what it printed>".
    const memoryLine = log.split('\n').map((l) => l.slice(l.indexOf(' ') + 1)).find((l) => (v2() ? /^0::/ : /^\d+:memory:/).test(l));
    assert.ok(memoryLine?.endsWith(`/${groupName(root)}/first`), log);
    assert.equal(ctl(root, 'service', 'stop', 'first').status, 0);
  });

  it('stops a fork bomb at pids.max: every process it made is in its group, the supervisor answers, and nothing is left after a stop', async () => {
    const bomb = `const { spawn } = require('child_process');
      setInterval(() => { for (let i = 0; i < 10; i++) spawn('sleep', ['1000'], { stdio: 'ignore' }).on('error', () => {}); }, 10);`;
    await install(await pkg('bomb', { entry: ['node', '-e', bomb], resources: { pids: 32 } }));
    // pids.events' "max" counts the forks the limit refused.
    await until('forks refused at pids.max', async () => (Number(/max (\d+)/.exec(readGroup('bomb', 'pids', 'pids.events', 'pids.events'))?.[1] ?? 0) > 0 ? true : undefined));
    assert.equal(readGroup('bomb', 'pids', 'pids.max', 'pids.max'), '32');
    assert.ok(Number(readGroup('bomb', 'pids', 'pids.current', 'pids.current')) <= 32);
    const uid = JSON.parse(readFileSync(join(root, 'mnt/sda2/services.json'), 'utf8')).accounts.bomb as number;
    const owned = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
      try {
        return new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    });
    const inGroup = new Set(procsOf('bomb'));
    assert.ok(owned.length > 1, 'the bomb made processes');
    assert.deepEqual(owned.filter((pid) => !inGroup.has(pid)), [], 'none of its processes is outside its group');
    const health = await fetchRaw(`http://127.0.0.1:${ports.app}/manager/health`);
    assert.equal(health.status, 200);
    assert.equal(ctl(root, 'service', 'stop', 'bomb').status, 0);
    await until('the bomb gone', async () => (owned.some(alive) || procsOf('bomb').length > 0 ? undefined : true), 10_000);
  });

  it('shares CPU by weight: two busy services on one core get about 1:4 with weights 100 and 400, and the supervisor still answers', async () => {
    // Both spin on CPU 0, so their groups compete there whatever else the machine does.
    const hog = { 'hog.sh': "#!/bin/sh\nexec taskset -c 0 /bin/sh -c 'while :; do :; done'\n" };
    await install(await pkg('hog-a', { entry: ['hog.sh'] }, hog));
    await install(await pkg('hog-b', { entry: ['hog.sh'], resources: { cpuWeight: 400 } }, hog));
    try {
      assert.equal(readGroup('hog-b', 'cpu', 'cpu.shares', 'cpu.weight'), v2() ? '400' : '4096');
      const cpu = () => [show('hog-a').usage!.cpuSeconds, show('hog-b').usage!.cpuSeconds] as const;
      await until('both spinning', async () => (cpu().every((s) => s > 0.2) ? true : undefined));
      const [a0, b0] = cpu();
      const answered = await fetchRaw(`http://127.0.0.1:${ports.app}/manager/health`);
      assert.equal(answered.status, 200);
      await until('4 s of CPU between them', async () => {
        const [a, b] = cpu();
        return a - a0 + (b - b0) > 4 ? true : undefined;
      });
      const [a1, b1] = cpu();
      const ratio = (b1 - b0) / (a1 - a0);
      assert.ok(ratio > 2.5 && ratio < 6, `hog-b got ${ratio.toFixed(2)}× hog-a's CPU (expected about 4)`);
    } finally {
      ctl(root, 'service', 'stop', 'hog-a');
      ctl(root, 'service', 'stop', 'hog-b');
    }
  });

  it('writes a changed limits setting into the kernel at once, refuses a bad one, goes back to the default, and follows the instances', async () => {
    await install(await pkg('idle', { entry: ['node', '-e', 'setInterval(() => {}, 1000)'] }));
    const first = await until('idle counted', async () => show('idle').usage ?? undefined);
    assert.ok(first.memoryBytes > 1 * MB && first.cpuSeconds > 0, JSON.stringify(first));
    const board = show('idle').limits;
    assert.deepEqual(board.source, { memoryMB: 'board', instanceMB: 'board', cpuWeight: 'board', pids: 'board' });
    assert.equal(memoryLimit('idle'), board.memoryLimitMB * MB);

    const set = ctl(root, 'service', 'limits', 'idle', '--memory', '200', '--pids', '50');
    assert.equal(set.status, 0, set.stderr);
    assert.equal(memoryLimit('idle'), 200 * MB, 'applied without a restart');
    assert.equal(readGroup('idle', 'pids', 'pids.max', 'pids.max'), '50');
    const shown = show('idle');
    assert.deepEqual([shown.limits.memoryLimitMB, shown.limits.source.memoryMB, shown.limits.source.pids], [200, 'setting', 'setting']);

    const bad = ctl(root, 'service', 'limits', 'idle', '--memory', '5');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr + bad.stdout, /memoryMB/);
    assert.equal(memoryLimit('idle'), 200 * MB, 'a refused value changes nothing');

    const metrics = await until('the limit in /manager/metrics', async () => {
      const body = (await fetchRaw(`http://127.0.0.1:${ports.app}/manager/metrics`)).body.toString();
      return body.includes(`ap_service_memory_limit_bytes{service="idle"} ${200 * MB}`) ? body : undefined;
    });
    assert.match(metrics, /ap_service_cpu_seconds_total\{service="idle"\} [\d.]+/);

    assert.equal(ctl(root, 'service', 'limits', 'idle', '--default').status, 0);
    assert.equal(memoryLimit('idle'), board.memoryLimitMB * MB);
    assert.equal(show('idle').limits.source.memoryMB, 'board');

    // Each instance adds instanceMB, at once.
    const created = ctl(root, 'instance', 'create', 'one@example.com', '--service', 'idle', '--password', 'secret-1234');
    assert.equal(created.status, 0, created.stderr);
    assert.equal(memoryLimit('idle'), (board.memoryMB + board.instanceMB) * MB);
    assert.equal(show('idle').limits.memoryLimitMB, board.memoryMB + board.instanceMB);
    assert.equal(ctl(root, 'instance', 'delete', 'one@example.com', '--drop-database').status, 0);
    assert.equal(memoryLimit('idle'), board.memoryMB * MB);
  });

  it('removes its groups when it stops', async () => {
    await stop(run);
    const layout = cgroupLayout();
    const base = layout.version === 2 ? layout.own : layout.version === 1 ? layout.own.memory : '';
    assert.ok(!readdirSync(base).includes(groupName(root)), `${groupName(root)} is gone from ${base}`);
  });
});
