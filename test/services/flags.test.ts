// A board's Node flags reach its Node services in part: the young generation
// and the optimiser's budget are the box's, the heap size is the service's own.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { getBoard } from '../../src/config';
import { layout } from '../../src/paths';
import { serviceNodeFlags } from '../../src/services';
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
      assert.ok(!execArgv.some((f) => f.startsWith('--max-old-space-size')), file);
    } finally {
      await services.stop();
    }
  });
});
