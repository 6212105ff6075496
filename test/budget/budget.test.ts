// The memory budget and admission control (issue 18, items 2 and 3): the
// budget's figures are what /proc says, and what does not fit is refused with
// the numbers, leaves nothing behind, and is admitted with force and a warning.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lookupAccount } from '../../src/db';
import { until } from '../harness/http';
import { ctl, list, serve, stateOf } from '../harness/services';
import { asSuperuser, buildFixture, ensureStopped, readyPorts, runApSync, type Run } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

const MiB = 1024 * 1024;
let dir: string;
before(async () => {
  dir = await workspace('ap-budget-');
});
after(async () => {
  execFileSync('rm', ['-rf', dir]);
});

/** PSS of one process in bytes, read as the budget should: /proc/<pid>/smaps_rollup. */
async function pssOf(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'latin1').catch(() => '');
  return Number(/^Pss:\s+(\d+)/m.exec(text)?.[1] ?? 0) * 1024;
}

/** /proc/meminfo in bytes. */
async function meminfo(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await readFile('/proc/meminfo', 'latin1')).matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]) * 1024;
  return out;
}

/** Every process below `pid` (by parent pid), itself included. */
function tree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of execFileSync('ls', ['/proc'], { encoding: 'utf8' }).split('\n')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = execFileSync('cat', [`/proc/${name}/stat`], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'] });
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [child, p] of parent) if (p === out[i]) out.push(child);
  return out;
}

const budgetOf = (root: string) => JSON.parse(ctl(root, 'system', 'budget').stdout);
const failure = (result: { status: number | null; stdout: string }) => {
  assert.notEqual(result.status, 0, result.stdout);
  return JSON.parse(result.stdout).error as { code: string; message: string };
};
/** The echo example (it reports ready) under another name. */
async function service(name: string): Promise<string> {
  const built = await buildFixture('echo', join(dir, 'packages', name));
  const manifest = JSON.parse(await readFile(join(built, 'app.json'), 'utf8'));
  await writeFile(join(built, 'app.json'), JSON.stringify({ ...manifest, name }));
  return built;
}

describe('the memory budget', () => {
  it('is what /proc says: MemTotal, the kernel fields, the PSS of the supervisor and of PostgreSQL, each service reserved; free is the rest exactly', async () => {
    const root = join(dir, 'sums');
    const run = serve(root);
    try {
      await readyPorts(run);
      assert.equal(ctl(root, 'service', 'install', await service('sums')).status, 0);
      // PostgreSQL starts and ends backends as it likes (autovacuum, a pool's connection):
      // measured again until the budget and /proc saw the same processes.
      const postmaster = Number((await readFile(join(root, 'mnt/sda2/pgsql/postmaster.pid'), 'utf8').catch(() => '0')).split('\n')[0]);
      let budget = budgetOf(root);
      let pgPids = postmaster ? tree(postmaster) : [];
      const same = () => [...budget.postgres.pids].sort().join() === [...pgPids].sort().join();
      for (let tries = 1; tries < 5 && !same(); tries++) {
        budget = budgetOf(root);
        pgPids = postmaster ? tree(postmaster) : [];
      }
      const mem = await meminfo();
      // The dev board has no ramMB: the total is what Linux reports.
      assert.equal(budget.totalFrom, 'meminfo');
      assert.equal(budget.totalBytes, mem.MemTotal);
      assert.equal(budget.kernel.reservedBytes, 0);
      const kernel = ['SUnreclaim', 'KernelStack', 'PageTables', 'SecPageTables', 'Percpu'].reduce((a, f) => a + (mem[f] ?? 0), 0);
      assert.ok(Math.abs(budget.kernel.bytes - kernel) < 32 * MiB, `kernel ${budget.kernel.bytes} against ${kernel} from /proc/meminfo`);

      assert.equal(budget.supervisor.pids[0], run.child.pid);
      const own = await pssOf(run.child.pid!);
      assert.ok(Math.abs(budget.supervisor.bytes - own) < 8 * MiB, `supervisor ${budget.supervisor.bytes} against PSS ${own}`);

      assert.deepEqual([...budget.postgres.pids].sort(), [...pgPids].sort(), 'the postmaster and every process below it');
      let pg = 0;
      for (const pid of pgPids) pg += await pssOf(pid);
      assert.ok(Math.abs(budget.postgres.bytes - pg) < 8 * MiB, `PostgreSQL ${budget.postgres.bytes} against PSS ${pg}`);
      assert.ok(budget.postgres.ownConnections >= 1, "the supervisor's own pool is counted");
      assert.ok(budget.postgres.connections >= budget.postgres.ownConnections);
      assert.equal(budget.postgres.perConnectionMeasured, true);
      assert.ok(budget.postgres.perConnectionBytes > 0);

      const [sums] = budget.services;
      assert.equal(sums.name, 'sums');
      // Running, no instances: the dev board's 512 MB, its measured PSS being far below.
      assert.equal(sums.reservedBytes, 512 * MiB);
      assert.ok(sums.usageBytes > 0, 'its PSS is measured');
      assert.equal(budget.servicesBytes, 512 * MiB);
      assert.equal(budget.freeBytes, budget.totalBytes - budget.kernel.bytes - budget.supervisor.bytes - budget.postgres.bytes - budget.servicesBytes);

      // A service stopped by hand reserves nothing.
      assert.equal(ctl(root, 'service', 'stop', 'sums').status, 0);
      assert.equal(budgetOf(root).servicesBytes, 0);

      const text = runApSync(['ctl', 'system', 'budget', '--root', root]);
      assert.equal(text.status, 0, text.stderr);
      for (const line of [/^total\s+\d+ MB\s+\(MemTotal\)/m, /^kernel\s+\d+ MB/m, /^supervisor\s+\d+ MB/m, /^PostgreSQL\s+\d+ MB\s+\(\d+ processes; \d+ connections, \d+ of them the supervisor's, ~\d+ MB each\)/m, /^ {2}sums\s+0 MB\s+\(stopped;/m, /^free\s+-?\d+ MB/m]) {
        assert.match(text.stdout, line);
      }
    } finally {
      await ensureStopped(run);
    }
  });
});

describe('admission control', () => {
  let root: string;
  let run: Run;
  let manager: number;
  before(async () => {
    root = join(dir, 'tight');
    // 300 MB: the kernel, the supervisor and PostgreSQL leave less than the dev board's 512 MB per service.
    run = serve(root, '--memory-budget-mb', '300');
    manager = (await readyPorts(run)).manager;
  });
  after(async () => {
    await ensureStopped(run);
  });

  it('refuses an install that does not fit, with the numbers, and leaves nothing behind; --force installs it with a warning', async () => {
    const name = `apbudget${process.pid % 100000}`;
    const pkg = await service(name);
    const refused = failure(ctl(root, 'service', 'install', pkg));
    assert.equal(refused.code, 'MEMORY_BUDGET');
    assert.match(
      refused.message,
      new RegExp(`^${name} needs 512 MB, -?\\d+ MB free of 300 MB \\(kernel \\d+, supervisor \\d+, PostgreSQL \\d+ with \\d+ connections? of ~\\d+ MB, services 0\\); force it`),
    );
    assert.deepEqual(await readdir(join(root, 'mnt/sda2/apps')), [], 'no package, no half-copied folder');
    assert.deepEqual(list(root), []);
    assert.equal(lookupAccount(name), null, 'no account');
    const records = await readFile(join(root, 'mnt/sda2/services.json'), 'utf8').catch(() => '');
    assert.doesNotMatch(records, new RegExp(name), 'no record');

    const forced = ctl(root, 'service', 'install', pkg, '--force');
    assert.equal(forced.status, 0, forced.stdout);
    assert.match(JSON.parse(forced.stdout).warning, new RegExp(`^admitted although memory is short \\(forced\\): ${name} needs 512 MB`));
    await run.waitFor(new RegExp(`warn +budget: admitted although memory is short \\(forced\\): ${name} needs 512 MB`), 10_000);
    assert.equal(stateOf(root, name)?.state, 'running');

    // An update needs only what it adds: the same limits over a running service, nothing, though memory is short.
    const update = ctl(root, 'service', 'install', pkg);
    assert.equal(update.status, 0, update.stdout);
    assert.equal(JSON.parse(update.stdout).warning, undefined);
  });

  it('refuses an instance that does not fit (HTTP 409) and makes no record and no database; --force creates it; a start of a stopped service is admitted too', async () => {
    const name = 'svc';
    assert.equal(ctl(root, 'service', 'install', await service(name), '--force').status, 0);

    const refused = failure(ctl(root, 'instance', 'create', 'a@budget.test', '--service', name));
    assert.equal(refused.code, 'MEMORY_BUDGET');
    assert.match(refused.message, /^instance a@budget\.test of svc needs \d+ MB, -?\d+ MB free of 300 MB \(kernel \d+, .*services \d+: .*svc 512\)/);
    assert.deepEqual(JSON.parse(ctl(root, 'instance', 'list').stdout).instances, []);
    const databases = await asSuperuser(root, 'postgres', (sql) => sql<{ datname: string }[]>`select datname from pg_database where datname like '%budget%'`);
    assert.deepEqual(databases.map((d) => d.datname), [], 'no database');

    // The Manager's API answers the same refusal with 409.
    const PASSWORD = 'a-good-pass-2026';
    assert.equal(runApSync(['ctl', 'password', PASSWORD, '--root', root]).status, 0);
    const base = `http://127.0.0.1:${manager}/manager/api`;
    const login = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
    assert.equal(login.status, 200);
    const session = { cookie: login.headers.get('set-cookie')!.split(';')[0]!, 'x-csrf-token': ((await login.json()) as { csrf: string }).csrf, 'content-type': 'application/json' };
    const http = await fetch(`${base}/instances`, { method: 'POST', headers: session, body: JSON.stringify({ service: name, name: 'b', domain: 'budget.test' }) });
    assert.equal(http.status, 409);
    assert.equal(((await http.json()) as { error: { code: string } }).error.code, 'MEMORY_BUDGET');
    const shown = await fetch(`${base}/system/budget`, { headers: session });
    assert.equal(shown.status, 200);
    assert.equal(((await shown.json()) as { totalBytes: number; totalFrom: string }).totalBytes, 300 * MiB);

    // An upload (Developer mode) is a job: the job fails with the numbers and nothing is installed; ?force=true installs it.
    assert.equal(ctl(root, 'setting', 'set', 'developerMode', 'true').status, 0);
    const pack = join(dir, 'uploaded.tar.gz');
    execFileSync('tar', ['-czf', pack, '-C', await service('uploaded'), '.']);
    const upload = async (query: string) => {
      const started = await fetch(`${base}/services/upload${query}`, { method: 'POST', headers: { ...session, 'content-type': 'application/octet-stream' }, body: await readFile(pack) });
      assert.equal(started.status, 202);
      const { id } = (await started.json()) as { id: string };
      return until('the install job', async () => {
        const job = (await (await fetch(`${base}/jobs/${id}`, { headers: session })).json()) as { state: string; message: string };
        return job.state === 'running' ? undefined : job;
      });
    };
    const uploadRefused = await upload('');
    assert.equal(uploadRefused.state, 'failed');
    assert.match(uploadRefused.message, /uploaded needs 512 MB, -?\d+ MB free of 300 MB \(kernel/);
    assert.equal(stateOf(root, 'uploaded'), undefined);
    assert.deepEqual((await readdir(join(root, 'mnt/sda2/apps'))).filter((f) => f.includes('uploaded')), []);
    const uploadForced = await upload('?force=true');
    assert.equal(uploadForced.state, 'succeeded', uploadForced.message);
    assert.match(uploadForced.message, /^installed uploaded 1\.0\.0; admitted although memory is short \(forced\): uploaded needs 512 MB/);

    const forced = ctl(root, 'instance', 'create', 'a@budget.test', '--service', name, '--force');
    assert.equal(forced.status, 0, forced.stdout);
    assert.match(JSON.parse(forced.stdout).warning, /instance a@budget\.test of svc needs/);
    assert.equal(budgetOf(root).services.find((s: { name: string }) => s.name === name).instances, 1);

    // Stopped by hand, it reserves nothing; starting it again must fit: its 512 MB, its instance's 32 MB and a connection.
    assert.equal(ctl(root, 'service', 'stop', name).status, 0);
    const start = failure(ctl(root, 'service', 'start', name));
    assert.equal(start.code, 'MEMORY_BUDGET');
    assert.match(start.message, /^starting svc needs (5[5-9]\d|6\d\d) MB/);
    assert.equal(stateOf(root, name)?.state, 'stopped');
    const started = ctl(root, 'service', 'start', name, '--force');
    assert.equal(started.status, 0, started.stdout);
    assert.match(JSON.parse(started.stdout).warning, /starting svc needs/);
    await until('svc running', async () => (stateOf(root, name)?.state === 'running' ? true : undefined));
  });
});
