// A service's status says since when its current process runs (the Manager
// shows "up for" from it), and nothing once no process runs.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { inlineServiceIn, servicesIn } from '../harness/services';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-status-');
});
after(() => rm(dir, { recursive: true, force: true }));

describe('a service status', () => {
  it('has the start of the running process, a new one after a restart, and none while stopped', async () => {
    const services = await servicesIn(join(dir, 'root'));
    try {
      const before = Date.now();
      await services.install(await inlineServiceIn(join(dir, 'packages'), 'uptime', 'setInterval(() => {}, 1000)'));
      const first = await until('it runs', async () => services.get('uptime')?.status().startedAt ?? undefined);
      assert.ok(Date.parse(first) >= before - 1000 && Date.parse(first) <= Date.now(), first);
      await services.restartService('uptime');
      const second = await until('it runs again', async () => {
        const { startedAt } = services.get('uptime')!.status();
        return startedAt !== null && startedAt !== first ? startedAt : undefined;
      });
      assert.ok(Date.parse(second) > Date.parse(first), `${first} → ${second}`);
      await services.stopService('uptime');
      assert.deepEqual([services.get('uptime')!.status().state, services.get('uptime')!.status().startedAt], ['stopped', null]);
    } finally {
      await services.stop();
    }
  });
});
