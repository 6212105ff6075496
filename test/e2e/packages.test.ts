// Installed packages in the manager database, through the bundled supervisor:
// every install writes them there; one the database refuses is not installed
// and the old version keeps running; a new box whose manager database holds
// them (a copy of the cluster, as a standby has; a restored Manager backup)
// installs and runs them, and their instances answer.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw, until } from '../harness/http';
import { asSuperuser, buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { describeEntry, tree } from '../packages/tree';

let dir: string;
let rootA: string;
let rootB: string;
let runA: Run | undefined;
let runB: Run | undefined;
let v1: string;

const ctl = (root: string, ...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
const serve = (root: string) => runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
const echoOf = (root: string) => (ctl(root, 'service', 'list') as { name: string; state: string; version: string; pid: number | null }[]).find((s) => s.name === 'echo');
const hello = async (port: number) => {
  const answer = await fetchRaw(`http://127.0.0.1:${port}/example.com/app/hello`);
  return answer.status === 200 ? answer.body.toString() : undefined;
};

/** The stored package of echo as `tree` shows a folder: from the rows, the chunks hashed in the database. */
const storedTree = (root: string) =>
  asSuperuser(root, 'manager', async (sql) => {
    const rows = await sql<{ path: string; kind: string; mode: number; target: string | null; sha: string }[]>`
      SELECT f.path, f.kind, f.mode, f.target, encode(sha256(coalesce(string_agg(c.bytes, ''::bytea ORDER BY c.seq), ''::bytea)), 'hex') AS sha
        FROM package_files f LEFT JOIN package_chunks c USING (service, path)
       WHERE f.service = 'echo' GROUP BY f.path, f.kind, f.mode, f.target`;
    return Object.fromEntries(rows.map((r) => [r.path, describeEntry(r.kind, r.mode, r.kind === 'link' ? r.target : r.sha)]));
  });
const storedVersion = (root: string) => asSuperuser(root, 'manager', async (sql) => (await sql<{ version: string }[]>`SELECT version FROM packages WHERE service = 'echo'`)[0]?.version ?? null);

/** The echo fixture as `version`, with a file of several chunks and an executable beside it. */
async function echoPackage(version: string, label: string, extra: Record<string, string> = {}): Promise<string> {
  const folder = join(dir, `echo-${version}-${Object.keys(extra).length}`);
  await cp(await buildFixture('echo', join(dir, 'build')), folder, { recursive: true });
  const manifest = JSON.parse(await readFile(join(folder, 'app.json'), 'utf8'));
  await writeFile(join(folder, 'app.json'), JSON.stringify({ ...manifest, version, label }));
  await writeFile(join(folder, 'data.bin'), randomBytes(3 * 1024 * 1024 + 17));
  await writeFile(join(folder, 'tool.sh'), '#!/bin/sh\necho tool\n');
  await chmod(join(folder, 'tool.sh'), 0o755);
  for (const [name, text] of Object.entries(extra)) await writeFile(join(folder, name), text);
  return folder;
}

async function stop(run: Run | undefined): Promise<void> {
  if (!run) return;
  run.child.kill('SIGTERM');
  const [code] = await run.exited;
  assert.equal(code, 0, run.output.text.slice(-2000));
}

before(async () => {
  dir = await workspace('ap-stored-');
  await mkdir(join(dir, 'a'));
  await mkdir(join(dir, 'b'));
  rootA = await rootWithConfig(join(dir, 'a'), {});
  rootB = await rootWithConfig(join(dir, 'b'), {});
  v1 = await echoPackage('1.0.0', '100001');
});

after(async () => {
  for (const run of [runA, runB]) if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('installed packages in the manager database', () => {
  it('an install writes the package into the manager database, byte for byte with its modes', async () => {
    runA = serve(rootA);
    const { app } = await readyPorts(runA);
    assert.equal(ctl(rootA, 'service', 'install', v1).name, 'echo');
    ctl(rootA, 'instance', 'create', 'app@example.com', '--service', 'echo', '--password', 'app-pw');
    assert.match(await until('the instance answers', () => hello(app)), /^hello from app@example\.com/);
    const installed = await tree(join(rootA, 'mnt/sda2/apps/echo'));
    assert.deepEqual(await storedTree(rootA), installed);
    assert.match(installed['tool.sh']!, /^file 755 /);
    assert.equal(await storedVersion(rootA), '1.0.0');
  });

  it('an install the database refuses fails as a whole: the old version keeps running, its rows stay', async () => {
    const { app } = await readyPorts(runA!);
    const before = echoOf(rootA)!;
    await asSuperuser(rootA, 'manager', (sql) => sql`ALTER TABLE package_files ADD CONSTRAINT test_poison CHECK (path <> 'poison') NOT VALID`);
    const refused = runApSync(['ctl', 'service', 'install', await echoPackage('2.0.0', '200001', { poison: 'the database refuses this path' }), '--root', rootA]);
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(refused.stderr, /writing the package into the manager database failed .*test_poison.*; nothing was installed; echo 1\.0\.0 stays installed/);
    const after1 = echoOf(rootA)!;
    assert.deepEqual([after1.version, after1.state, after1.pid], ['1.0.0', 'running', before.pid]);
    assert.equal(JSON.parse(await readFile(join(rootA, 'mnt/sda2/apps/echo/app.json'), 'utf8')).version, '1.0.0');
    assert.deepEqual((await readdir(join(rootA, 'mnt/sda2/apps'))).sort(), ['echo']);
    assert.equal(await storedVersion(rootA), '1.0.0');
    assert.deepEqual(await storedTree(rootA), await tree(join(rootA, 'mnt/sda2/apps/echo')));
    assert.match((await hello(app)) ?? '', /^hello from app@example\.com/);
    await asSuperuser(rootA, 'manager', (sql) => sql`ALTER TABLE package_files DROP CONSTRAINT test_poison`);
  });

  it('an update replaces the stored package', async () => {
    assert.equal(ctl(rootA, 'service', 'install', await echoPackage('2.0.0', '200001')).version, '2.0.0');
    assert.equal(await storedVersion(rootA), '2.0.0');
    assert.deepEqual(await storedTree(rootA), await tree(join(rootA, 'mnt/sda2/apps/echo')));
  });

  it('a new box whose manager database holds the packages installs them at start, and the instance answers', async () => {
    const installedA = await tree(join(rootA, 'mnt/sda2/apps/echo'));
    await stop(runA);
    runA = undefined;
    // The cluster as a standby would have it: the database, no apps.
    await mkdir(join(rootB, 'mnt/sda2'), { recursive: true });
    const copied = spawnSync('cp', ['-a', join(rootA, 'mnt/sda2/pgsql'), join(rootB, 'mnt/sda2/pgsql')], { encoding: 'utf8' });
    assert.equal(copied.status, 0, copied.stderr);
    runB = serve(rootB);
    const { app } = await readyPorts(runB);
    await runB.waitFor(/installed echo 2\.0\.0 \(build 200001\) from the manager database/, 1000);
    assert.deepEqual(await tree(join(rootB, 'mnt/sda2/apps/echo')), installedA);
    assert.match(await until('the instance answers on the new box', () => hello(app)), /^hello from app@example\.com/);
    assert.equal(echoOf(rootB)?.state, 'running');
    assert.deepEqual((await readdir(join(rootB, 'mnt/sda2'))).filter((n) => n.startsWith('package-')), []);
  });

  it('an installed service the database lacks (a box from before) is written in at start', async () => {
    await asSuperuser(rootB, 'manager', (sql) => sql`DELETE FROM packages`);
    await stop(runB);
    runB = serve(rootB);
    await readyPorts(runB);
    await runB.waitFor(/stored the installed echo 2\.0\.0 \(build 200001; \d+ entries, \d+ bytes\) in the manager database/, 1000);
    assert.equal(await storedVersion(rootB), '2.0.0');
    assert.deepEqual(await storedTree(rootB), await tree(join(rootB, 'mnt/sda2/apps/echo')));
  });

  it('a Manager backup brings the apps back on a box without them', async () => {
    const file = join(dir, 'manager.apbk');
    assert.equal(ctl(rootB, 'backup', 'manager', '--file', file).state, 'succeeded');
    const installed = await tree(join(rootB, 'mnt/sda2/apps/echo'));
    await stop(runB);
    runB = undefined;
    const rootC = await rootWithConfig(join(dir, 'c'), {});
    const runC = serve(rootC);
    try {
      await readyPorts(runC);
      assert.equal(echoOf(rootC), undefined);
      const restoring = runAp(['ctl', 'restore', 'manager', file, '--json', '--root', rootC]);
      await restoring.exited;
      const restored = JSON.parse(restoring.output.text || '{}');
      assert.equal(restored.state, 'succeeded', `${restoring.output.text}\n${runC.output.text.slice(-4000)}`);
      await runC.waitFor(/installed echo 2\.0\.0 \(build 200001\) from the manager database/, 1000);
      assert.deepEqual(await tree(join(rootC, 'mnt/sda2/apps/echo')), installed);
      await until('echo running on the restored box', async () => (echoOf(rootC)?.state === 'running' ? true : undefined));
    } finally {
      await ensureStopped(runC);
    }
  });
});
