// Which stops the services subsystem remembers across a restart of the
// supervisor: a person's, not the disk guard's (pause/resume).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Services } from '../../src/services';
import { until } from '../harness/http';
import { servicesIn } from '../harness/services';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-held-');
});
after(() => rm(dir, { recursive: true, force: true }));

const start = (root: string): Promise<Services> => servicesIn(root);

describe('remembered stops', () => {
  it('forgets a stop of the disk guard (pause) at the next start, but keeps a stop by hand', async () => {
    const root = join(dir, 'root');
    const pkg = join(dir, 'sleeper');
    await mkdir(pkg, { recursive: true });
    await writeFile(join(pkg, 'app.json'), JSON.stringify({ name: 'sleeper', version: '1.0.0', entry: ['node', '-e', 'setInterval(() => {}, 1000)'] }));
    let services = await start(root);
    try {
      await services.install(pkg);
      await services.pause('sleeper');
      assert.equal(services.get('sleeper')!.state, 'stopped');
      services.resume('sleeper');
      assert.equal(services.get('sleeper')!.state, 'starting', 'the guard starts again what it stopped');
      await services.pause('sleeper');
      await services.stop();

      services = await start(root);
      assert.equal(services.get('sleeper')!.state, 'starting', "the guard's stop is not remembered");
      await services.stopService('sleeper');
      services.resume('sleeper');
      assert.equal(services.get('sleeper')!.state, 'stopped', "the guard does not start what a person stopped");
      assert.match(await readFile(join(root, 'mnt/sda2/services.json'), 'utf8'), /"sleeper": \{\s*"as": "stopped"/);
      await services.stop();

      services = await start(root);
      assert.equal(services.get('sleeper')!.state, 'stopped', 'a stop by hand is remembered');
      services.startService('sleeper');
      assert.equal(services.get('sleeper')!.state, 'starting');
      // The start forgets the stop in the background: wait for the file.
      await until('the stop to be forgotten', async () => (/"as": "stopped"/.test(await readFile(join(root, 'mnt/sda2/services.json'), 'utf8')) ? undefined : true), 5000);
    } finally {
      await services.stop();
    }
  });
});
