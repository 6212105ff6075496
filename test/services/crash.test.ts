// A crash record holds the last lines a service printed, as its log does: it
// is as private as the log (0640, root's), since every service runs as an
// account of its own and one must not read what another printed.
import assert from 'node:assert/strict';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { until } from '../harness/http';
import { inlineServiceIn, servicesIn } from '../harness/services';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-crash-');
});
after(() => rm(dir, { recursive: true, force: true }));

it("writes a crash record only its readers may read, as the service's log", async () => {
  const root = join(dir, 'root');
  const services = await servicesIn(root);
  try {
    // Ready, then prints what only its own log should hold, and dies.
    const code = `
      const channel = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true });
      const json = Buffer.from(JSON.stringify({ type: 'ready' }));
      const head = Buffer.alloc(9);
      head.writeUInt32BE(5 + json.length, 0);
      head.writeUInt8(1, 4);
      channel.write(Buffer.concat([head, json]), () => setTimeout(() => { console.log('connecting with password hunter2'); process.exit(3); }, 100));
    `;
    await services.install(await inlineServiceIn(join(dir, 'packages'), 'leaky', code));
    const crashes = join(root, 'mnt/sda2/log/core_dumps/leaky');
    const [record] = await until('a crash record', async () => {
      const files = (await readdir(crashes).catch(() => [])).filter((f) => f.endsWith('.json'));
      return files.length > 0 ? files : undefined;
    });
    const log = await stat(join(root, 'mnt/sda2/log/apps/leaky/leaky.log'));
    assert.equal((await stat(join(crashes, record!))).mode & 0o777, 0o640);
    assert.equal(log.mode & 0o777, 0o640, 'as its log');
  } finally {
    await services.stop();
  }
});
