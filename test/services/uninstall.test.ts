// An uninstall whose step fails (the manager database is down, say): the
// service is not started again, neither now nor at the next start, whose
// finishUninstalls does the rest; an install of that name waits for it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApError } from '../../src/errors';
import { until } from '../harness/http';
import { inlineServiceIn, servicesIn } from '../harness/services';
import { alive } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-uninst-');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('an uninstall that fails half way', () => {
  it('leaves the service down and decided; the next start finishes it and the name installs again', async () => {
    const root = join(dir, 'root');
    const pkg = await inlineServiceIn(join(dir, 'packages'), 'halfway', 'setInterval(() => {}, 1000)');
    const deleted: string[] = [];
    let services = await servicesIn(root, {
      deletePackage: async () => {
        throw new ApError('DB_UNAVAILABLE', 'the manager database is down');
      },
    });
    try {
      await services.install(pkg);
      const pid = await until('it runs', async () => services.get('halfway')?.status().pid ?? undefined);
      await assert.rejects(services.uninstall('halfway', {}), /the manager database is down/);
      assert.equal(alive(pid), false, 'stopped');
      assert.equal(services.get('halfway'), undefined, 'gone from the list');
      await assert.rejects(services.install(pkg), (err: ApError) => err.code === 'CONFLICT');
      assert.deepEqual(Object.keys(JSON.parse(await readFile(join(root, 'mnt/sda2/uninstalling.json'), 'utf8'))), ['halfway']);
    } finally {
      await services.stop();
    }

    services = await servicesIn(root, { deletePackage: async (name) => void deleted.push(name) });
    try {
      assert.equal(services.get('halfway'), undefined, 'never loaded (nor started) again');
      await services.finishUninstalls();
      assert.deepEqual(deleted, ['halfway']);
      assert.ok(!existsSync(join(root, 'mnt/sda2/apps/halfway')));
      assert.ok(!existsSync(join(root, 'mnt/sda2/log/apps/halfway')));
      assert.ok(!existsSync(join(root, 'mnt/sda2/appdata/halfway')));
      assert.deepEqual(JSON.parse(await readFile(join(root, 'mnt/sda2/uninstalling.json'), 'utf8')), {});
      await services.install(pkg);
      const again = await until('it runs again', async () => services.get('halfway')?.status().pid ?? undefined);
      assert.ok(alive(again));
    } finally {
      await services.stop();
    }
  });
});
