// Uninstalling a service through the bundled supervisor and `ap ctl`: what a
// user would look for afterwards (the process, the package folder and its
// copy in the manager database, the Linux account, the cgroup, the data and
// log folders, the instances and their databases) is gone or kept as asked;
// refusals change nothing; a kill -9 at a step of the job is finished by the
// next start. The service is a renamed copy of the echo fixture: accounts are
// machine-wide and other tests run echo at the same time.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw, until } from '../harness/http';
import { alive, asSuperuser, buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

const NAME = 'goner';
let dir: string;
let pkg: string;

const ap = (root: string, ...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  return { status: result.status, body: result.stdout.trim() ? JSON.parse(result.stdout) : null, stderr: result.stderr };
};
const ctl = (root: string, ...args: string[]) => {
  const result = ap(root, ...args);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${JSON.stringify(result.body)} ${result.stderr}`);
  return result.body;
};
const serve = (root: string, env: Record<string, string> = {}) => runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0'], env);
const serviceOf = (root: string) => (ctl(root, 'service', 'list') as { name: string; state: string; pid: number | null }[]).find((s) => s.name === NAME);
const storedPackage = (root: string) => asSuperuser(root, 'manager', async (sql) => (await sql`SELECT 1 FROM packages WHERE service = ${NAME}`).length > 0);
const databaseExists = (root: string, name: string) => asSuperuser(root, 'postgres', async (sql) => (await sql`SELECT 1 FROM pg_database WHERE datname = ${name}`).length > 0);
const hasAccount = () => readFileSync('/etc/passwd', 'utf8').split('\n').some((line) => line.startsWith(`${NAME}:`));
const asRoot = process.getuid?.() === 0;

/** Installs the package and waits until it runs; answers its pid and its memory cgroup folder (null without one). */
async function install(root: string): Promise<{ pid: number; cgroup: string | null }> {
  ctl(root, 'service', 'install', pkg);
  const running = await until(`${NAME} running`, async () => {
    const s = serviceOf(root);
    return s?.state === 'running' && s.pid ? s : undefined;
  });
  const lines = readFileSync(`/proc/${running.pid}/cgroup`, 'utf8').split('\n');
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
  const v2 = lines.find((l) => l.startsWith('0::'));
  const folder = v1 ? join('/sys/fs/cgroup/memory', v1.split(':')[2]!) : v2 ? join('/sys/fs/cgroup', v2.slice(3)) : null;
  return { pid: running.pid!, cgroup: folder && folder.endsWith(`/${NAME}`) ? folder : null };
}

/** What an uninstall must remove, looked at as a user would. */
async function assertGone(root: string, pid: number | null, cgroup: string | null, logsKept = false): Promise<void> {
  assert.equal(serviceOf(root), undefined, 'not in the service list');
  assert.equal(ap(root, 'service', 'show', NAME).body?.error?.code, 'NOT_FOUND');
  if (pid !== null) await until('its process to end', async () => (alive(pid) ? undefined : true), 10_000);
  assert.ok(!existsSync(join(root, 'mnt/sda2/apps', NAME)), 'package folder removed');
  assert.deepEqual((await import('node:fs/promises').then((fs) => fs.readdir(join(root, 'mnt/sda2/apps')))).filter((n) => n.includes(NAME)), []);
  assert.ok(!existsSync(join(root, 'mnt/sda2/appdata', NAME)), 'data folder removed');
  assert.equal(existsSync(join(root, 'mnt/sda2/log/apps', NAME)), logsKept, logsKept ? 'logs kept' : 'logs removed');
  assert.equal(await storedPackage(root), false, 'package removed from the manager database');
  if (asRoot) assert.equal(hasAccount(), false, 'Linux account removed');
  if (cgroup) assert.ok(!existsSync(cgroup), `cgroup ${cgroup} removed`);
  const pending = await readFile(join(root, 'mnt/sda2/uninstalling.json'), 'utf8').catch(() => '{}');
  assert.deepEqual(JSON.parse(pending), {}, 'no uninstall left pending');
}

before(async () => {
  dir = await workspace('ap-uninstall-');
  const echo = await buildFixture('echo', join(dir, 'build'));
  pkg = join(dir, NAME);
  await cp(echo, pkg, { recursive: true });
  const manifest = JSON.parse(await readFile(join(pkg, 'app.json'), 'utf8'));
  await writeFile(join(pkg, 'app.json'), JSON.stringify({ ...manifest, name: NAME }));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ap ctl service uninstall', () => {
  let root: string;
  let run: Run;
  let port: number;
  const hello = async (instance: string) => (await fetchRaw(`http://127.0.0.1:${port}/example.com/${instance}/hello`)).status;
  const instanceDb = (id: string) => (ctl(root, 'instance', 'show', id) as { database: { name: string } }).database.name;

  before(async () => {
    root = await rootWithConfig(join(dir, 'main'), {});
    run = serve(root);
    port = (await readyPorts(run)).app;
  });
  after(async () => {
    if (run) await ensureStopped(run);
  });

  it('removes a service without instances whole, and the name installs again and works', async () => {
    const { pid, cgroup } = await install(root);
    assert.ok(existsSync(join(root, 'mnt/sda2/log/apps', NAME)), 'it has a log folder');
    assert.equal(await storedPackage(root), true);
    if (asRoot) assert.equal(hasAccount(), true, 'it runs as its own account');
    if (cgroup) assert.ok(existsSync(cgroup));
    const job = ctl(root, 'service', 'uninstall', NAME);
    assert.equal(job.state, 'succeeded', job.message);
    assert.equal(job.kind, 'uninstall');
    assert.match(job.message, /uninstalled goner/);
    await assertGone(root, pid, cgroup);

    await install(root);
    ctl(root, 'instance', 'create', `one@example.com`, '--service', NAME);
    await until('the new instance answers', async () => ((await hello('one')) === 200 ? true : undefined));
  });

  it('refuses while the service has instances, naming them, and changes nothing', async () => {
    const before = serviceOf(root)!;
    const refused = ap(root, 'service', 'uninstall', NAME);
    assert.equal(refused.status, 1);
    assert.equal(refused.body?.error?.code, 'HAS_INSTANCES');
    assert.match(refused.body.error.message, /one@example\.com/);
    const usage = ap(root, 'service', 'uninstall', NAME, '--drop-databases');
    assert.equal(usage.status, 2, 'drop-databases without instances is a usage error');
    const after = serviceOf(root)!;
    assert.equal(after.state, 'running');
    assert.equal(after.pid, before.pid);
    assert.equal(await storedPackage(root), true);
    assert.equal(await hello('one'), 200);
  });

  it('with --instances deletes them and keeps their databases (and with --keep-logs its logs)', async () => {
    const db = instanceDb('one@example.com');
    const pid = serviceOf(root)!.pid;
    const job = ctl(root, 'service', 'uninstall', NAME, '--instances', '--keep-logs');
    assert.equal(job.state, 'succeeded', job.message);
    await assertGone(root, pid, null, true);
    assert.equal(ap(root, 'instance', 'show', 'one@example.com').body?.error?.code, 'NOT_FOUND');
    assert.notEqual(await hello('one'), 200);
    assert.equal(await databaseExists(root, db), true, 'the database is kept');
  });

  it('with --instances --drop-databases drops their databases too', async () => {
    await install(root);
    ctl(root, 'instance', 'create', `two@example.com`, '--service', NAME);
    const db = instanceDb('two@example.com');
    assert.equal(await databaseExists(root, db), true);
    const job = ctl(root, 'service', 'uninstall', NAME, '--instances', '--drop-databases');
    assert.equal(job.state, 'succeeded', job.message);
    await assertGone(root, null, null);
    assert.equal(ap(root, 'instance', 'show', 'two@example.com').body?.error?.code, 'NOT_FOUND');
    assert.equal(await databaseExists(root, db), false, 'the database is dropped');
  });

  it('refuses an unknown name and the supervisor\'s own package', () => {
    const unknown = ap(root, 'service', 'uninstall', 'nosuch');
    assert.equal(unknown.status, 1);
    assert.equal(unknown.body?.error?.code, 'NOT_FOUND');
    const own = ap(root, 'service', 'uninstall', 'manager');
    assert.equal(own.status, 1);
    assert.equal(own.body?.error?.code, 'SERVICE_NAME_RESERVED');
  });
});

describe('an uninstall cut by kill -9', () => {
  it('is finished by the next start, whichever step it was cut after', async () => {
    const root = await rootWithConfig(join(dir, 'cut'), {});
    const cuts = ['decided', 'instances', 'package', 'folder'] as const;
    let run = serve(root, { AP_TEST_UNINSTALL_CUT: cuts[0] });
    try {
      await readyPorts(run);
      for (let i = 0; i < cuts.length; i++) {
        const { pid, cgroup } = await install(root);
        ctl(root, 'instance', 'create', `cut${i}@example.com`, '--service', NAME);
        const db = (ctl(root, 'instance', 'show', `cut${i}@example.com`) as { database: { name: string } }).database.name;
        // The job kills the supervisor: its answer may or may not come first.
        ap(root, 'service', 'uninstall', NAME, '--instances', '--drop-databases', '--no-wait');
        await run.waitFor(new RegExp(`killing the supervisor after step "${cuts[i]}" of uninstalling ${NAME}`));
        assert.deepEqual(await run.exited, [null, 'SIGKILL']);
        run = serve(root, i + 1 < cuts.length ? { AP_TEST_UNINSTALL_CUT: cuts[i + 1]! } : {});
        await readyPorts(run);
        assert.match(run.output.text, /an uninstall of goner was interrupted; finishing it/);
        await assertGone(root, pid, cgroup);
        assert.equal(ap(root, 'instance', 'show', `cut${i}@example.com`).body?.error?.code, 'NOT_FOUND');
        assert.equal(await databaseExists(root, db), false, `cut after ${cuts[i]}: the database is dropped`);
      }
    } finally {
      await ensureStopped(run);
    }
  });
});
