// `ap ctl` through the API's routes only: the commands that were admin-socket
// verbs of their own (status, service list|install|start|stop, password,
// debug gc) print what they printed, and an API error comes out the one way
// (`ap: <message>`, or the API's error body with --json), exit status 1.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let echo: string;

const ctl = (...args: string[]) => runApSync(['ctl', ...args, '--root', root]);

before(async () => {
  dir = await workspace('ap-ctl-routes-');
  root = await rootWithConfig(dir, {});
  echo = await buildFixture('echo', join(dir, 'packages'));
  // With a GC to call, as the benchmarks run it.
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0'], { NODE_OPTIONS: '--expose-gc' });
  await readyPorts(run);
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('ap ctl over the route table', () => {
  it('prints the status, the services, an install, a stop and a start as before', () => {
    const status = ctl('status');
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^state: {4}running \(pid \d+, up \d+ s\)\n/);
    assert.match(status.stdout, /\nservices: none\n/);
    assert.equal(JSON.parse(ctl('status', '--json').stdout).state, 'running');
    assert.equal(ctl('service', 'list').stdout, 'no services installed\n');
    assert.deepEqual(JSON.parse(ctl('service', 'list', '--json').stdout), []);

    const installed = ctl('service', 'install', echo);
    assert.equal(installed.status, 0, installed.stderr);
    assert.match(installed.stdout, /^installed echo \S+\n$/);
    assert.match(ctl('service', 'list').stdout, /^echo +\S+ +running \(pid \d+\)\n$/);
    assert.equal(ctl('service', 'stop', 'echo').stdout, 'echo: stopped\n');
    assert.match(ctl('service', 'start', 'echo').stdout, /^echo: (starting|running)\n$/);
    const listed = JSON.parse(ctl('service', 'list', '--json').stdout) as { name: string }[];
    assert.deepEqual(listed.map((s) => s.name), ['echo']);
  });

  it('runs a full GC and sets the Manager password without the old one', () => {
    const gc = ctl('debug', 'gc');
    assert.equal(gc.status, 0, gc.stderr);
    assert.match(gc.stdout, /^after a full GC: \d+\.\d MB RSS, \d+\.\d MB heap in use\n$/);
    assert.ok(JSON.parse(ctl('debug', 'gc', '--json').stdout).spaces.old_space.used > 0);
    const set = ctl('password', 'set-by-root-2026');
    assert.deepEqual([set.status, set.stdout], [0, 'the Manager password is set; every Manager session has ended\n']);
  });

  it('says an API error once: the message on stderr, or the error body with --json; exit status 1', () => {
    const plain = ctl('service', 'start', 'nope');
    assert.deepEqual([plain.status, plain.stdout, plain.stderr], [1, '', 'ap: no service "nope" is installed\n']);
    const json = ctl('service', 'stop', 'nope', '--json');
    assert.deepEqual([json.status, JSON.parse(json.stdout)], [1, { error: { code: 'NOT_FOUND', message: 'no service "nope" is installed' } }]);
    // The field the API named survives with --json.
    const weak = ctl('password', 'short', '--json');
    assert.equal(weak.status, 1);
    assert.equal(JSON.parse(weak.stdout).error.field, 'password');
    const job = ctl('jobs', '999');
    assert.deepEqual([job.status, job.stderr], [1, 'ap: no job 999\n']);
    const relative = runApSync(['ctl', 'service', 'install', 'no-such-folder', '--root', root]);
    assert.equal(relative.status, 1);
    assert.match(relative.stderr, /^ap: .*no-such-folder/);
  });
});
