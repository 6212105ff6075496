// Where no cgroup can be made (no hierarchy mounted, not root, read-only), the
// supervisor says so once and runs services as before: unlimited, with their
// limits shown as not enforced and no usage. The /proc it reads is a fixture
// without cgroup mounts; everything else is real (services, their accounts).
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openCgroups } from '../../src/cgroup';
import { getBoard } from '../../src/config';
import { createLogger, type Logger } from '../../src/log';
import { until } from '../harness/http';
import { servicesIn } from '../harness/services';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-nocgroup-');
});
after(() => rm(dir, { recursive: true, force: true }));

/** A logger that keeps its warnings. */
function recording(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const quiet = createLogger({ level: 'error', file: null });
  const make = (): Logger => ({ ...quiet, warn: (m) => void warnings.push(m), child: () => make() });
  return Object.assign(make(), { warnings });
}

describe('without cgroups', () => {
  it('says why once at start and runs services unlimited, their limits shown as not enforced and their usage as null', async () => {
    const proc = join(dir, 'proc');
    await mkdir(join(proc, 'self'), { recursive: true });
    await writeFile(join(proc, 'self/mountinfo'), '22 1 0:20 / / rw,relatime - overlay overlay rw\n');
    await writeFile(join(proc, 'self/cgroup'), '0::/\n');
    const log = recording();
    const root = join(dir, 'root');
    const cgroups = openCgroups({ root, log, proc });
    assert.equal(cgroups, null);
    assert.deepEqual(log.warnings, ['app services run without memory, CPU and process limits: no cgroup filesystem is mounted']);

    const services = await servicesIn(root, { log, cgroups, serviceLimits: getBoard('ipx10').serviceLimits, instanceCount: () => 2 });
    try {
      const pkg = join(dir, 'sleeper');
      await mkdir(pkg, { recursive: true });
      await writeFile(join(pkg, 'app.json'), JSON.stringify({ name: 'sleeper', version: '1.0.0', entry: ['node', '-e', 'setInterval(() => {}, 1000)'], resources: { pids: 16 } }));
      await services.install(pkg);
      const status = await until('sleeper running its process', async () => services.get('sleeper')!.status().pid ?? undefined);
      assert.ok(status > 0);
      const shown = services.get('sleeper')!.status();
      assert.equal(shown.usage, null);
      assert.deepEqual(shown.limits, {
        memoryMB: 48,
        instanceMB: 4,
        cpuWeight: 100,
        pids: 16,
        memoryLimitMB: 56,
        source: { memoryMB: 'board', instanceMB: 'board', cpuWeight: 'board', pids: 'package' },
        enforced: false,
      });
      // The setting is still kept and shown, for when the box has cgroups.
      assert.equal((await services.setLimits('sleeper', { memoryMB: 64 })).memoryLimitMB, 72);
      await assert.rejects(services.setLimits('sleeper', { memoryMB: 4 }), /memoryMB: must be an integer from 8 to 4096/);
      assert.equal(services.limitsOf('sleeper').memoryMB, 64, 'a refused value changes nothing');
      assert.equal(log.warnings.filter((w) => w.includes('without memory')).length, 1, 'said once');
    } finally {
      await services.stop();
    }
  });
});
