// A board's Node flags reach its Node services in part: the young generation
// and the optimiser's budget are the box's; the heap size comes from the
// service's memory limit (or its own flag in its entry).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getBoard } from '../../src/config';
import { layout } from '../../src/paths';
import { serviceNodeFlags } from '../../src/services';
import { heapFlag } from '../../src/services/process';
import { until } from '../harness/http';
import { servicesIn } from '../harness/services';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-flags-');
});
after(() => rm(dir, { recursive: true, force: true }));

describe("a board's Node flags for its services", () => {
  it('passes the semi space and the interrupt budget on, not the old space size', () => {
    assert.deepEqual(serviceNodeFlags(['--max-old-space-size=64', '--max-semi-space-size=1', '--interrupt-budget=1000000']), ['--max-semi-space-size=1', '--interrupt-budget=1000000']);
    assert.deepEqual(serviceNodeFlags([]), []);
  });

  it("runs a Node service of the ipx10 with them (what its process.execArgv says)", async () => {
    const flags = serviceNodeFlags(getBoard('ipx10').nodeFlags);
    assert.ok(flags.includes('--interrupt-budget=1000000'), `ipx10's service flags: ${flags.join(' ')}`);
    const pkg = join(dir, 'argv');
    await mkdir(pkg, { recursive: true });
    const code = "require('fs').writeFileSync(require('path').join(process.env.AP_DATA_DIR, 'argv.json'), JSON.stringify(process.execArgv)); setInterval(() => {}, 1000)";
    await writeFile(join(pkg, 'app.json'), JSON.stringify({ name: 'argv', version: '1.0.0', entry: ['node', '-e', code] }));
    const root = join(dir, 'root');
    const services = await servicesIn(root, { nodeFlags: flags });
    try {
      await services.install(pkg);
      // Its data folder (AP_DATA_DIR): <data>/appdata/<name>.
      const written = join(layout(root).data, 'appdata', 'argv', 'argv.json');
      const file = await until('the service wrote its execArgv', async () => (await readFile(written, 'utf8').catch(() => null)) ?? undefined);
      const execArgv = JSON.parse(file) as string[];
      for (const flag of flags) assert.ok(execArgv.includes(flag), `${flag} in ${file}`);
      // Not the box's heap size: three quarters of the service's own memory limit.
      const limitMB = services.get('argv')!.status().limits.memoryLimitMB;
      assert.deepEqual(execArgv.filter((f) => f.startsWith('--max-old-space-size')), [`--max-old-space-size=${Math.floor((limitMB * 3) / 4)}`]);
    } finally {
      await services.stop();
    }
  });

  it("sizes a Node service's heap by its memory limit, so V8 collects before the kernel's limit is reached; a flag in its entry wins", async () => {
    assert.equal(heapFlag(48), '--max-old-space-size=36');
    assert.equal(heapFlag(10), '--max-old-space-size=16');
    const heapOf = async (name: string, entry: string[]) => {
      const pkg = join(dir, name);
      await mkdir(pkg, { recursive: true });
      const code = "require('fs').writeFileSync(require('path').join(process.env.AP_DATA_DIR, 'heap'), String(require('v8').getHeapStatistics().heap_size_limit)); setInterval(() => {}, 1000)";
      await writeFile(join(pkg, 'app.json'), JSON.stringify({ name, version: '1.0.0', entry: ['node', ...entry, '-e', code], resources: { memoryMB: 64, instanceMB: 8 } }));
      const root = join(dir, `root-${name}`);
      // V8's heap limit counts the young generation too: three semi spaces, 1 MB each here (as on the ipx10).
      const services = await servicesIn(root, { nodeFlags: ['--max-semi-space-size=1'] });
      try {
        await services.install(pkg);
        const written = join(layout(root).data, 'appdata', name, 'heap');
        return Number(await until(`${name} wrote its heap limit`, async () => (await readFile(written, 'utf8').catch(() => null)) || undefined)) / 1024 / 1024;
      } finally {
        await services.stop();
      }
    };
    // 64 MB for the service: an old space of 48 MB, far below what this machine's memory gives.
    const sized = await heapOf('heap', []);
    assert.ok(sized >= 48 && sized <= 52, `heap limit ${sized} MB for a 64 MB service`);
    const own = await heapOf('ownheap', ['--max-old-space-size=200']);
    assert.ok(own >= 200 && own <= 204, `heap limit ${own} MB with its own --max-old-space-size=200`);
  });
});
