// S92manager's side of the supervisor's own update, under BusyBox sh with a
// stand-in for node: the swap of a staged build, its trial (attempts counted,
// a hung one ended by the watchdog), the way back after three failed attempts,
// and a power cut between any two steps of either (a `sync` that kills the
// script): run again, it ends where an uncut run ends.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../harness/supervisor';

type Behaviour = 'good' | 'bad' | 'hang';

let top: string;
let bin: string;
let cutBin: string;

// The stand-in for node: `node-flags` prints none; `serve` records the build it
// runs (and whether it runs under the respawner), then does what its ap.js says:
// good confirms like a supervisor that got ready (removes the trial file).
const FAKE_NODE = `#!/bin/sh
[ "$2" = node-flags ] && exit 0
build=$(sed -n 's/.*"label": *"\\([0-9]*\\)".*/\\1/p' "$(dirname "$1")/app.json")
echo "\${build:-factory} $AP_RESPAWNED" >>"$AP_ROOT/runs"
case "$(cat "$1")" in
good) rm -f "$AP_ROOT/mnt/sda2/apps/manager.trial"; exit 0 ;;
bad) exit 1 ;;
hang) exec sleep 600 ;;
esac
`;
// A power cut after the CUT_AT-th sync: the script dies there, as on a box that lost power.
const CUT_SYNC = `#!/bin/sh
n=$(($(cat "$CUT_COUNT" 2>/dev/null || echo 0) + 1))
echo "$n" >"$CUT_COUNT"
/bin/sync
[ "$n" = "$CUT_AT" ] && kill -KILL "$PPID"
exit 0
`;

before(async () => {
  top = await mkdtemp(join(tmpdir(), 'ap-selfupdate-'));
  bin = join(top, 'bin');
  cutBin = join(top, 'cut-bin');
  await mkdir(bin);
  await mkdir(cutBin);
  await writeFile(join(bin, 'fake-node'), FAKE_NODE);
  await chmod(join(bin, 'fake-node'), 0o755);
  await writeFile(join(cutBin, 'sync'), CUT_SYNC);
  await chmod(join(cutBin, 'sync'), 0o755);
});
after(async () => {
  await rm(top, { recursive: true, force: true });
});

let boxes = 0;
/** A box's folder with /apps/manager (build 1, good) and optionally a staged manager.new. */
async function box(staged: { build: string; does: Behaviour; complete?: boolean } | null): Promise<string> {
  const root = join(top, `box-${++boxes}`);
  await pkg(join(root, 'mnt/sda2/apps/manager'), '1', 'good');
  if (staged) {
    await pkg(join(root, 'mnt/sda2/apps/manager.new'), staged.build, staged.does);
    if (staged.complete !== false) await writeFile(join(root, 'mnt/sda2/apps/manager.new/.complete'), `${staged.build}\n`);
  }
  return root;
}

async function pkg(dir: string, build: string, does: Behaviour): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'app.json'), JSON.stringify({ name: 'manager', version: '1.0.0', label: build }, null, 2));
  await writeFile(join(dir, 'ap.js'), `${does}\n`);
}

/** `S92manager run` once, as init's respawn line runs it. */
function run(root: string, extra: Record<string, string> = {}, path = `${bin}:${process.env.PATH}`) {
  const result = spawnSync('busybox', ['sh', join(REPO, 'overlay/etc/init.d/S92manager'), 'run'], {
    env: { PATH: path, AP_ROOT: root, AP_BOARD: 'dev', NODE: join(bin, 'fake-node'), AP_FACTORY_JS: join(root, 'no-factory/ap.js'), AP_TRIAL_WAIT: '2', AP_STOP_WAIT: '5', ...extra },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, signal: result.signal, out: `${result.stdout}${result.stderr}` };
}

const runs = async (root: string) => (await readFile(join(root, 'runs'), 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
const apps = async (root: string) => (await readdir(join(root, 'mnt/sda2/apps'))).sort();
const buildIn = async (root: string, folder: string) => JSON.parse(await readFile(join(root, 'mnt/sda2/apps', folder, 'app.json'), 'utf8')).label as string;
const log = (root: string) => readFile(join(root, 'mnt/sda2/log/apps/manager/manager.out'), 'utf8');

/** A swap that ended: build 2 runs from manager, build 1 is kept as manager.prev, nothing else is left. */
async function assertSwapped(root: string): Promise<void> {
  assert.deepEqual(await apps(root), ['manager', 'manager.prev']);
  assert.equal(await buildIn(root, 'manager'), '2');
  assert.equal(await buildIn(root, 'manager.prev'), '1');
}

/** A rollback that ended: build 1 is back in manager, and manager.failed says why. */
async function assertRolledBack(root: string): Promise<void> {
  assert.deepEqual(await apps(root), ['manager', 'manager.failed']);
  assert.equal(await buildIn(root, 'manager'), '1');
  assert.match(await readFile(join(root, 'mnt/sda2/apps/manager.failed'), 'utf8'), /^build 2 did not get ready within 2 s in 3 attempts; build 1 is back$/m);
}

/** A box whose build 2 failed its three attempts: the next run rolls back. */
async function failedTrialBox(): Promise<string> {
  const root = await box(null);
  const apps = join(root, 'mnt/sda2/apps');
  await rm(join(apps, 'manager'), { recursive: true });
  await pkg(join(apps, 'manager'), '2', 'bad');
  await pkg(join(apps, 'manager.prev'), '1', 'good');
  await writeFile(join(apps, 'manager.trial'), '3 1 2\n');
  return root;
}

describe('S92manager: the supervisor hands over to a staged build', () => {
  it('swaps a complete manager.new in and runs it on trial; a build that gets ready confirms and keeps manager.prev', async () => {
    const root = await box({ build: '2', does: 'good' });
    const first = run(root);
    assert.equal(first.status, 0, first.out);
    assert.deepEqual(await runs(root), ['2 1'], 'the new build ran, under the respawner');
    await assertSwapped(root);
    assert.match(await log(root), /handing over from build 1 to build 2[\s\S]*build 2 on trial: attempt 1 of 3/);
    // Confirmed: the next start is an ordinary one.
    run(root);
    assert.deepEqual(await runs(root), ['2 1', '2 1']);
    assert.doesNotMatch(await log(root), /attempt 2/);
  });

  it('removes an incomplete manager.new (a stage cut off) and runs the build it has', async () => {
    const root = await box({ build: '2', does: 'good', complete: false });
    run(root);
    assert.deepEqual(await runs(root), ['1 1']);
    assert.deepEqual(await apps(root), ['manager']);
    assert.match(await log(root), /removing an incomplete .*manager\.new/);
  });

  it('a build that exits three times on trial: the previous one comes back with manager.failed', async () => {
    const root = await box({ build: '2', does: 'bad' });
    for (let i = 0; i < 4; i++) run(root);
    assert.deepEqual(await runs(root), ['2 1', '2 1', '2 1', '1 1']);
    await assertRolledBack(root);
    assert.match(await log(root), /build 2 did not get ready in 3 attempts; going back to build 1/);
  });

  it('a first update from the factory copy (no /apps/manager) that fails: the factory copy runs again', async () => {
    const root = await box({ build: '2', does: 'bad' });
    await rm(join(root, 'mnt/sda2/apps/manager'), { recursive: true });
    await mkdir(join(root, 'factory'));
    await writeFile(join(root, 'factory/ap.js'), 'good\n');
    const factory = { AP_FACTORY_JS: join(root, 'factory/ap.js') };
    for (let i = 0; i < 4; i++) run(root, factory);
    assert.deepEqual(await runs(root), ['2 1', '2 1', '2 1', 'factory 1']);
    assert.deepEqual(await apps(root), ['manager.failed']);
    assert.match(await readFile(join(root, 'mnt/sda2/apps/manager.failed'), 'utf8'), /^build 2 did not get ready within 2 s in 3 attempts; the factory copy is back$/m);
  });

  it('a build that hangs on trial is ended by the watchdog after AP_TRIAL_WAIT, three times, then the previous one comes back', async () => {
    const root = await box({ build: '2', does: 'hang' });
    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      const r = run(root);
      assert.notEqual(r.signal, 'SIGKILL', 'ended by the watchdog, not by the test timeout');
    }
    assert.ok(Date.now() - started >= 3 * 2000, 'each attempt had its 2 s');
    run(root);
    assert.deepEqual(await runs(root), ['2 1', '2 1', '2 1', '1 1']);
    await assertRolledBack(root);
    assert.equal((await log(root)).match(/build on trial not ready after 2 s; ending it/g)?.length, 3);
  });

  it('a power cut between any two steps of the swap: run again, it ends swapped and on trial', async () => {
    const count = join(top, 'count-swap');
    // How many steps (syncs) an uncut swap makes.
    const whole = await box({ build: '2', does: 'good' });
    run(whole, { CUT_COUNT: count, CUT_AT: '0' }, `${cutBin}:${bin}:${process.env.PATH}`);
    const steps = Number(await readFile(count, 'utf8'));
    assert.ok(steps >= 6, `the swap syncs after each step (${steps})`);
    for (let at = 1; at <= steps; at++) {
      await rm(count, { force: true });
      const root = await box({ build: '2', does: 'good' });
      const cut = run(root, { CUT_COUNT: count, CUT_AT: String(at) }, `${cutBin}:${bin}:${process.env.PATH}`);
      assert.equal(cut.signal ?? (cut.status === 137 ? 'SIGKILL' : null), 'SIGKILL', `cut after step ${at}`);
      const again = run(root);
      assert.equal(again.status, 0, again.out);
      await assertSwapped(root);
      assert.equal((await runs(root)).at(-1), '2 1', `after a cut at step ${at}, build 2 runs`);
      assert.equal(existsSync(join(root, 'mnt/sda2/apps/manager.trial')), false, 'and confirmed');
    }
  });

  it('a power cut between any two steps of the way back: run again, build 1 is back with manager.failed', async () => {
    const count = join(top, 'count-rollback');
    const whole = await failedTrialBox();
    run(whole, { CUT_COUNT: count, CUT_AT: '0' }, `${cutBin}:${bin}:${process.env.PATH}`);
    const steps = Number(await readFile(count, 'utf8'));
    assert.ok(steps >= 6, `the way back syncs after each step (${steps})`);
    for (let at = 1; at <= steps; at++) {
      await rm(count, { force: true });
      const root = await failedTrialBox();
      const cut = run(root, { CUT_COUNT: count, CUT_AT: String(at) }, `${cutBin}:${bin}:${process.env.PATH}`);
      assert.equal(cut.signal ?? (cut.status === 137 ? 'SIGKILL' : null), 'SIGKILL', `cut after step ${at}`);
      run(root);
      await assertRolledBack(root);
      assert.equal((await runs(root)).at(-1), '1 1', `after a cut at step ${at}, build 1 runs`);
    }
  });
});
