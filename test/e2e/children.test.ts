// The supervisor's children across its own life: stopped with it, killed
// with it, and listening on IPv4 and IPv6 at once (their accounts: accounts.test.ts).
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw, until } from '../harness/http';
import { alive, buildFixture, ensureStopped, processesMentioning, readyPorts, type Run, runAp, runApSync } from '../harness/supervisor';

let dir: string;
let echo: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-kids-'));
  await chmod(dir, 0o755);
  echo = await buildFixture('echo', join(dir, 'packages'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** A root with the echo service already installed and one instance of it. */
async function prepareRoot(name: string): Promise<string> {
  const root = join(dir, name);
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/ap.json'), JSON.stringify({ instances: [{ service: 'echo', name: 'e', domain: 'x.com', password: 'p' }] }));
  await cp(echo, join(root, 'mnt/sda2/apps/echo'), { recursive: true });
  return root;
}

async function startWithEcho(root: string, ...extra: string[]): Promise<{ run: Run; port: number; servicePid: number }> {
  const run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', ...extra]);
  const port = (await readyPorts(run)).app;
  const servicePid = await until('echo running', async () => {
    const list = JSON.parse(runApSync(['ctl', 'service', 'list', '--json', '--root', root]).stdout);
    return list[0]?.state === 'running' ? (list[0].pid as number) : undefined;
  });
  return { run, port, servicePid };
}

describe('children of the supervisor', () => {
  it('listens on IPv4 and IPv6 with --host ::, and leaves no process behind on SIGTERM', async () => {
    const root = await prepareRoot('term');
    const { run, port, servicePid } = await startWithEcho(root, '--host', '::');
    try {
      assert.equal((await fetchRaw(`http://127.0.0.1:${port}/x.com/e/hello`)).status, 200);
      assert.equal((await fetchRaw(`http://[::1]:${port}/x.com/e/hello`)).status, 200);
      run.child.kill('SIGTERM');
      assert.deepEqual(await run.exited, [0, null]);
      assert.equal(alive(servicePid), false, 'the service stopped with the supervisor');
      assert.deepEqual(processesMentioning(root), []);
    } finally {
      await ensureStopped(run);
    }
  });

  it('warns at each start while the config file declaring instances (their passwords) is readable by other accounts', async () => {
    const root = await prepareRoot('readable');
    await chmod(join(root, 'etc/ap.json'), 0o644);
    const warned = /etc\/ap\.json declares instances with their passwords and other accounts can read it \(mode 0644\): chmod 600 /;
    const first = await startWithEcho(root);
    try {
      await first.run.waitFor(warned, 5000);
    } finally {
      await ensureStopped(first.run);
    }
    await chmod(join(root, 'etc/ap.json'), 0o600);
    const second = await startWithEcho(root);
    try {
      assert.doesNotMatch(second.run.output.text, warned);
    } finally {
      await ensureStopped(second.run);
    }
  });

  it('takes its services down when it is killed with SIGKILL, and the next start recovers', async () => {
    const root = await prepareRoot('kill');
    const first = await startWithEcho(root);
    first.run.child.kill('SIGKILL');
    await first.run.exited;
    await until('the service to die with its supervisor', async () => (alive(first.servicePid) ? undefined : true), 10_000);
    // Our PostgreSQL survives in its own process group; the next start must stop it and go on.
    const second = await startWithEcho(root);
    try {
      assert.match(second.run.output.text, /from an earlier run is still up/);
      assert.equal((await fetchRaw(`http://127.0.0.1:${second.port}/x.com/e/hello`)).status, 200);
    } finally {
      second.run.child.kill('SIGTERM');
      assert.deepEqual(await second.run.exited, [0, null]);
    }
    assert.deepEqual(processesMentioning(root), []);
  });

  it('puts back the previous version of a service whose install a power cut interrupted', async () => {
    const root = await prepareRoot('interrupted');
    const apps = join(root, 'mnt/sda2/apps');
    // The state between the two renames of an install: the old version retired, the new one still staged.
    await rename(join(apps, 'echo'), join(apps, '.old-echo-0123abcd'));
    await cp(echo, join(apps, '.install-echo-89abcdef'), { recursive: true });
    await mkdir(join(apps, '.install-other-00000000'));
    const { run, port } = await startWithEcho(root);
    try {
      assert.match(run.output.text, /an install of echo was interrupted; the previous version is back/);
      assert.equal((await fetchRaw(`http://127.0.0.1:${port}/x.com/e/hello`)).status, 200);
      assert.deepEqual((await readdir(apps)).sort(), ['echo']);
    } finally {
      run.child.kill('SIGTERM');
      assert.deepEqual(await run.exited, [0, null]);
    }
  });

  it('kills a service that ignores SIGTERM once the stop timeout passes', async () => {
    const root = join(dir, 'stubborn');
    const pkg = join(dir, 'packages', 'stubborn');
    await mkdir(pkg, { recursive: true });
    const code = "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('armed'); setInterval(() => {}, 1000)";
    await writeFile(join(pkg, 'app.json'), JSON.stringify({ name: 'stubborn', version: '1.0.0', entry: ['node', '-e', code] }));
    // A 3 s shutdown timeout gives each service 1 s between SIGTERM and SIGKILL.
    const run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--shutdown-timeout', '3']);
    try {
      await run.waitFor(/ready: Manager/);
      assert.equal(runApSync(['ctl', 'service', 'install', pkg, '--no-wait', '--root', root]).status, 0);
      const pid = await until('the service process', async () => {
        const list = JSON.parse(runApSync(['ctl', 'service', 'list', '--json', '--root', root]).stdout);
        return list[0]?.pid ?? undefined;
      });
      const log = join(root, 'mnt/sda2/log/apps/stubborn/stubborn.log');
      await until('its SIGTERM handler', async () => ((await readFile(log, 'utf8').catch(() => '')).includes('armed') ? true : undefined));
      const started = Date.now();
      const stopped = JSON.parse(runApSync(['ctl', 'service', 'stop', 'stubborn', '--json', '--root', root]).stdout);
      assert.equal(stopped.state, 'stopped');
      assert.ok(Date.now() - started >= 900, 'SIGKILL came after the timeout');
      assert.equal(alive(pid), false);
      assert.match(await readFile(log, 'utf8'), /ignoring SIGTERM/);
    } finally {
      await ensureStopped(run);
    }
  });
});
