// Services kept apart from the system and from each other (issue 14): names
// that would reuse an account or a folder are refused, a stop by hand and a
// failure survive a restart, every process a service started ends with it,
// and a service flooding its output costs the supervisor little.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cpuMs, until } from '../harness/http';
import { buildFixture, ensureStopped, processesMentioning, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

let dir: string;
let echo: string;
before(async () => {
  dir = await workspace('ap-iso-');
  echo = await buildFixture('echo', join(dir, 'packages'));
});
after(async () => {
  execFileSync('rm', ['-rf', dir]);
});

const isRoot = process.getuid?.() === 0;

async function inlineService(name: string, code: string): Promise<string> {
  const folder = join(dir, 'packages', name);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'app.json'), JSON.stringify({ name, version: '0.0.1', entry: ['node', '-e', code] }));
  return folder;
}

function serve(root: string, ...extra: string[]): Run {
  return runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--restart-delay', '100', ...extra]);
}

const ctl = (root: string, ...args: string[]) => runApSync(['ctl', ...args, '--json', '--root', root]);
type Listed = { name: string; state: string; pid: number | null; reason: string | null };
const list = (root: string): Listed[] => JSON.parse(ctl(root, 'service', 'list').stdout);
const stateOf = (root: string, name: string) => list(root).find((s) => s.name === name);

async function stop(run: Run): Promise<void> {
  run.child.kill('SIGTERM');
  assert.deepEqual(await run.exited, [0, null]);
}

/** A service that leaves a `sleep <token>` behind in a session of its own (setsid), then stays up. */
const forker = (token: string) =>
  `require('child_process').spawn('/bin/sh', ['-c', 'setsid sleep ${token} </dev/null >/dev/null 2>&1 &'], { stdio: 'ignore' }); setInterval(() => {}, 1000)`;

/** The `sleep <token>` processes (not the service whose code names the token). */
const sleepers = (token: string) => processesMentioning(token).filter((pid) => {
  try {
    return execFileSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'latin1' }) === `sleep\0${token}\0`;
  } catch {
    return false;
  }
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('service names', () => {
  it('refuses names of the system, the supervisor and accounts it did not make, installing nothing', async (t) => {
    const root = join(dir, 'names');
    const run = serve(root);
    const foreign = `apforeign${process.pid % 100000}`;
    try {
      await readyPorts(run);
      for (const name of ['postgres', 'root', 'manager']) {
        const result = ctl(root, 'service', 'install', await inlineService(name, 'setInterval(() => {}, 1000)'));
        assert.notEqual(result.status, 0, name);
        assert.match(result.stderr, new RegExp(`"${name}" cannot name an app service`), name);
      }
      if (isRoot) {
        execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', foreign]);
        const result = ctl(root, 'service', 'install', await inlineService(foreign, 'setInterval(() => {}, 1000)'));
        assert.notEqual(result.status, 0);
        assert.match(result.stderr, new RegExp(`the Linux account "${foreign}" .*exists and was not made by the App Platform`));
      } else t.diagnostic('not root: the foreign-account case is skipped');
      assert.deepEqual(await readdir(join(root, 'mnt/sda2/apps')), []);
      assert.deepEqual(list(root), []);
    } finally {
      await ensureStopped(run);
      if (isRoot) {
        try {
          execFileSync('userdel', [foreign], { stdio: 'ignore' });
        } catch {
          // not made: the test failed before
        }
      }
    }
  });
});

describe('remembered stops', () => {
  it('keeps a service stopped by hand stopped, and a failed one failed, across a restart until started by hand', async () => {
    const root = join(dir, 'held');
    let run = serve(root);
    try {
      await readyPorts(run);
      assert.equal(ctl(root, 'service', 'install', echo).status, 0);
      assert.equal(ctl(root, 'service', 'install', await inlineService('quitter', "console.log('giving up'); process.exit(125)")).status, 0);
      await until('echo running, quitter failed', async () => (stateOf(root, 'echo')?.state === 'running' && stateOf(root, 'quitter')?.state === 'failed' ? true : undefined));
      assert.equal(ctl(root, 'service', 'stop', 'echo').status, 0);
      await stop(run);

      run = serve(root);
      await readyPorts(run);
      await run.waitFor(/echo stays stopped \(stopped by hand\) until started by hand/);
      assert.equal(stateOf(root, 'echo')?.state, 'stopped');
      assert.equal(stateOf(root, 'quitter')?.state, 'failed');
      assert.match(stateOf(root, 'quitter')?.reason ?? '', /asked not to be restarted.*before the supervisor restarted/);
      assert.equal(ctl(root, 'service', 'start', 'echo').status, 0);
      await until('echo running again', async () => (stateOf(root, 'echo')?.state === 'running' ? true : undefined));
      await stop(run);

      run = serve(root);
      await readyPorts(run);
      await until('echo running after the next restart', async () => (stateOf(root, 'echo')?.state === 'running' ? true : undefined));
      assert.equal(stateOf(root, 'quitter')?.state, 'failed');
    } finally {
      await ensureStopped(run);
    }
  });
});

describe('the whole process tree', () => {
  for (const mode of isRoot ? ['own account', 'as root (unsafe flag)'] : ['as the supervisor\'s user']) {
    it(`ends a detached grandchild at a stop, at a death and after a killed supervisor (${mode})`, async () => {
      const extra = mode.startsWith('as root') ? ['--app-user', 'false', '--unsafe-services-as-root', 'true'] : [];
      const root = join(dir, `tree-${extra.length}`);
      const token = (n: number) => `${3000 + n}.${process.pid % 1000}${extra.length}`;
      const grandchild = async (n: number) => until(`the grandchild sleep ${token(n)}`, async () => sleepers(token(n))[0]);
      let run = serve(root, ...extra);
      try {
        await readyPorts(run);
        if (extra.length) assert.match(run.output.text, /UNSAFE: app services run as root/);
        // 1. a stop by hand
        assert.equal(ctl(root, 'service', 'install', await inlineService('forker', forker(token(1)))).status, 0);
        const first = await grandchild(1);
        assert.equal(ctl(root, 'service', 'stop', 'forker').status, 0);
        await until('the grandchild to end with the stop', async () => (alive(first) ? undefined : true), 10_000);

        // 2. the service dies and is restarted
        await writeFile(join(dir, 'packages/forker/app.json'), JSON.stringify({ name: 'forker', version: '0.0.2', entry: ['node', '-e', forker(token(2))] }));
        assert.equal(ctl(root, 'service', 'install', join(dir, 'packages/forker')).status, 0);
        const second = await grandchild(2);
        const pid = await until('forker running', async () => stateOf(root, 'forker')?.pid ?? undefined);
        process.kill(pid, 'SIGKILL');
        await until('the grandchild to end with its service', async () => (alive(second) ? undefined : true), 10_000);
        const third = await grandchild(2); // the restarted service made a new one

        // 3. the supervisor is killed: at the latest its next start ends what is left
        run.child.kill('SIGKILL');
        await run.exited;
        run = serve(root, ...extra);
        await readyPorts(run);
        await until('the orphan of the killed supervisor to end', async () => (alive(third) ? undefined : true), 10_000);
        assert.ok(await grandchild(2), 'the service runs again with a new grandchild');
        await stop(run);
        assert.deepEqual(sleepers(token(2)), [], 'nothing of the service outlives a clean stop');
      } finally {
        await ensureStopped(run);
        for (const n of [1, 2]) for (const p of sleepers(token(n))) process.kill(p, 'SIGKILL');
      }
    });
  }
});

describe('output floods', () => {
  it('reads a flooding service at a bounded pace, costing the supervisor a bounded share of a core', async () => {
    const root = join(dir, 'flood');
    const run = serve(root, '--service-log-size', '1G'); // no rotation inside the window: its growth is what was read
    try {
      await readyPorts(run);
      // As fast as each pipe takes it, whether Node writes to it synchronously or not.
      const code = "const b = Buffer.alloc(65536, 120); b[65535] = 10; const flood = (s) => { while (s.write(b)); s.once('drain', () => flood(s)); }; flood(process.stdout); flood(process.stderr);";
      assert.equal(ctl(root, 'service', 'install', await inlineService('flood', code)).status, 0);
      const log = join(root, 'mnt/sda2/log/apps/flood/flood.log');
      await until('the flood to reach its log', async () => ((await stat(log).catch(() => null))?.size ? true : undefined));
      const pid = run.child.pid!;
      const size = async () => (await stat(log)).size;
      const size0 = await size();
      const cpu0 = await cpuMs(pid);
      const t0 = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 4000)); // the measuring window, not a wait for an event
      const share = (await cpuMs(pid)) - cpu0;
      const wall = Date.now() - t0;
      const rate = ((await size()) - size0) / (wall / 1000);
      const percent = (share / wall) * 100;
      console.log(`# supervisor CPU while a service floods stdout+stderr: ${share.toFixed(0)} ms in ${wall} ms = ${percent.toFixed(1)} % of a core`);
      console.log(`# output read from it: ${(rate / 1024).toFixed(0)} KiB/s (budget 256 KiB/s)`);
      assert.ok(percent < 30, `the supervisor used ${percent.toFixed(1)} % of a core`);
      // Window edges let a little more than one budget through per second, never a flood's pace.
      assert.ok(rate < 2 * 256 * 1024, `read ${(rate / 1024).toFixed(0)} KiB/s`);
      await run.waitFor(/writes more than 256 KiB\/s to stdout\/stderr/);
      assert.match(await readFile(log, 'utf8').catch(() => ''), /xxxx/);
    } finally {
      await ensureStopped(run);
    }
  });
});
