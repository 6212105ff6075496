// Every process a service started ends with it (issue 14): also one that
// left its process group (setsid, double fork), and one a killed supervisor
// left behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { alive, ensureStopped, processesMentioning, readyPorts } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { ctl, inlineServiceIn, serve, stateOf, stop } from '../harness/services';

let dir: string;
before(async () => {
  dir = await workspace('ap-tree-');
});
after(async () => {
  execFileSync('rm', ['-rf', dir]);
});

const isRoot = process.getuid?.() === 0;
const inlineService = (name: string, code: string) => inlineServiceIn(join(dir, 'packages'), name, code);

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
        assert.equal(ctl(root, 'service', 'install', await inlineService('forker', forker(token(1))), '--no-wait').status, 0);
        const first = await grandchild(1);
        assert.equal(ctl(root, 'service', 'stop', 'forker').status, 0);
        await until('the grandchild to end with the stop', async () => (alive(first) ? undefined : true), 10_000);

        // 2. the service dies and is restarted
        await writeFile(join(dir, 'packages/forker/app.json'), JSON.stringify({ name: 'forker', version: '0.0.2', entry: ['node', '-e', forker(token(2))] }));
        assert.equal(ctl(root, 'service', 'install', join(dir, 'packages/forker'), '--no-wait').status, 0);
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

