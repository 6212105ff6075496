// The accounts services run as (issue 14): names that would reuse an account
// or a folder of the system are refused; a service runs as an account the
// supervisor made, with its package read-only and its folders its own.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lookupAccount } from '../../src/db';
import { until } from '../harness/http';
import { ensureStopped, readyPorts, runAp, runApSync } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { ctl, inlineServiceIn, list, serve } from '../harness/services';

let dir: string;
before(async () => {
  dir = await workspace('ap-acct-');
});
after(async () => {
  execFileSync('rm', ['-rf', dir]);
});

const isRoot = process.getuid?.() === 0;
const inlineService = (name: string, code: string) => inlineServiceIn(join(dir, 'packages'), name, code);

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
        assert.match(JSON.parse(result.stdout).error.message, new RegExp(`"${name}" cannot name an app service`), name);
      }
      if (isRoot) {
        execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', foreign]);
        const result = ctl(root, 'service', 'install', await inlineService(foreign, 'setInterval(() => {}, 1000)'));
        assert.notEqual(result.status, 0);
        assert.match(JSON.parse(result.stdout).error.message, new RegExp(`the Linux account "${foreign}" .*exists and was not made by the App Platform`));
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

describe('service accounts', () => {
  it('runs each service as an account it made for it: no login, package read-only, data and log folders its own; the Disable App security setting gives a shell', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root');
    const name = `aptest${process.pid % 100000}`;
    const root = join(dir, 'users');
    const pkg = join(dir, 'packages', name);
    await mkdir(pkg, { recursive: true });
    // It reports what it may write: its data folder (HOME) yes, its own package no.
    const code = `const fs = require('fs'); const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'yes'; } catch (e) { return e.code; } };
      console.log('data:' + tryWrite(process.env.HOME + '/probe') + ' package:' + tryWrite(process.cwd() + '/probe')); setInterval(() => {}, 1000)`;
    await writeFile(join(pkg, 'app.json'), JSON.stringify({ name, version: '1.0.0', entry: ['node', '-e', code] }));
    await chmod(join(pkg, 'app.json'), 0o666); // a sloppy package: the install still makes it read-only
    let run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
    try {
      await readyPorts(run);
      assert.equal(runApSync(['ctl', 'service', 'install', pkg, '--no-wait', '--root', root]).status, 0);
      const account = lookupAccount(name);
      assert.ok(account, `user ${name} was created`);
      assert.ok(account!.uid >= 61000 && account!.uid <= 61999, `uid ${account!.uid} is in the supervisor's range`);
      const entry = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`))!;
      assert.match(entry, /:App Platform service:/);
      assert.match(entry, /:(\/usr\/sbin\/nologin|\/sbin\/nologin|\/bin\/false)$/);
      const pid = await until('the service process', async () => {
        const list = JSON.parse(runApSync(['ctl', 'service', 'list', '--json', '--root', root]).stdout);
        return list.find((s: { name: string; pid: number | null }) => s.name === name)?.pid ?? undefined;
      });
      // The wrapper (setpriv) execs the service in place: the pid is the service's.
      const uid = await until('the service to run as its user', async () => {
        const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
        const real = /^Uid:\s+(\d+)/m.exec(status)?.[1];
        return real === String(account!.uid) ? real : undefined;
      });
      assert.equal(Number(uid), account!.uid);
      const log = join(root, 'mnt/sda2/log/apps', name, `${name}.log`);
      await until('its report', async () => ((await readFile(log, 'utf8').catch(() => '')).includes('data:') ? true : undefined));
      assert.match(await readFile(log, 'utf8'), /data:yes package:EACCES/);
      const installed = await stat(join(root, 'mnt/sda2/apps', name, 'app.json'));
      assert.equal(installed.uid, 0);
      assert.equal(installed.mode & 0o777, 0o644);
      assert.equal((await stat(join(root, 'mnt/sda2/apps', name))).uid, 0);
      assert.equal((await stat(join(root, 'mnt/sda2/appdata', name))).uid, account!.uid);
      assert.equal((await stat(join(root, 'mnt/sda2/log/apps', name))).uid, account!.uid);

      // Disable App security: the account gets a shell at the service's next start.
      assert.equal(runApSync(['ctl', 'setting', 'set', 'disableAppSecurity', 'true', '--root', root]).status, 0);
      run.child.kill('SIGTERM');
      await run.exited;
      run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
      await readyPorts(run);
      await until('a login shell', async () => ((await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith(`${name}:`))?.endsWith(':/bin/sh') ? true : undefined));
    } finally {
      await ensureStopped(run);
      try {
        execFileSync('userdel', [name], { stdio: 'ignore' });
        execFileSync('groupdel', [name], { stdio: 'ignore' });
      } catch {
        // not created, or the group went with the user
      }
    }
  });
});
