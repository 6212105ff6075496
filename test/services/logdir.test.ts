// A service owns its log folder (mnt/sda2/log/apps/<name>/, where it may keep
// logs of its own), while the supervisor, root on a box, writes and reads the
// service's log there. Whatever the service puts in the way — a link to a file
// of root's, a folder where the rotated copy goes — is never written through
// or read through, and never crashes the supervisor.
import assert from 'node:assert/strict';
import { link, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { readTail } from '../../src/services/tail';
import { until } from '../harness/http';
import { inlineServiceIn, servicesIn } from '../harness/services';
import { workspace } from '../harness/workspace';

let dir: string;
before(async () => {
  dir = await workspace('ap-logdir-');
});
after(() => rm(dir, { recursive: true, force: true }));

it("neither follows a link the service put in place of its log nor falls over a folder where the rotated copy goes", async () => {
  const root = join(dir, 'root');
  const target = join(dir, 'roots-file');
  await writeFile(target, 'root only\n', { mode: 0o600 });
  const logs = join(root, 'mnt/sda2/log/apps/hostile');
  // Its first run replaces its log by a link to root's file and the rotated copy by a folder, prints past the cap, and exits.
  const code = `
    const fs = require('node:fs');
    const logs = ${JSON.stringify(logs)};
    const channel = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true });
    const json = Buffer.from(JSON.stringify({ type: 'ready' }));
    const head = Buffer.alloc(9);
    head.writeUInt32BE(5 + json.length, 0);
    head.writeUInt8(1, 4);
    channel.write(Buffer.concat([head, json]));
    if (!fs.existsSync(logs + '/planted')) {
      fs.writeFileSync(logs + '/planted', '');
      fs.rmSync(logs + '/hostile.log', { force: true });
      fs.symlinkSync(${JSON.stringify(target)}, logs + '/hostile.log');
      fs.rmSync(logs + '/hostile.log.1', { force: true, recursive: true });
      fs.mkdirSync(logs + '/hostile.log.1');
      fs.writeFileSync(logs + '/hostile.log.1/x', '');
      for (let i = 0; i < 100; i++) console.log('x'.repeat(100));
      setTimeout(() => process.exit(3), 300);
    } else setInterval(() => console.log('second run'), 200);
  `;
  const services = await servicesIn(root, { logMaxBytes: 4096 });
  try {
    await services.install(await inlineServiceIn(join(dir, 'packages'), 'hostile', code));
    await until('its second run', async () => {
      const status = services.get('hostile')!.status();
      return status.restarts >= 1 && status.state === 'running' ? true : undefined;
    });
    // A second of the second run's output, which would have gone through the link.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.equal(await readFile(target, 'utf8'), 'root only\n', "root's file is not written through the link");
    await assert.rejects(readTail(join(logs, 'hostile.log'), 2048), { code: 'NOT_FOUND', message: /is not the service's log but a link/ }, "root's file is not read through the link");
  } finally {
    await services.stop();
  }
});

it("leaves a file of root's that the service hard-linked into its data folder root's when it makes the folder its own", { skip: process.getuid?.() !== 0 && 'services get accounts of their own only when the supervisor is root' }, async () => {
  const root = join(dir, 'root-link');
  const services = await servicesIn(root);
  const secret = join(root, 'mnt/sda2/backup.key');
  try {
    await services.install(await inlineServiceIn(join(dir, 'packages'), 'linker', 'setInterval(() => {}, 1000)'));
    await writeFile(secret, 'the backup key\n', { mode: 0o600 });
    // What a service can do where fs.protected_hardlinks is 0 (a box without systemd): the same file system as its data.
    await link(secret, join(root, 'mnt/sda2/appdata/linker/key'));
    await writeFile(join(root, 'mnt/sda2/appdata/linker/own'), 'its own\n');
  } finally {
    await services.stop();
  }
  // The next start makes the data folder the service's again.
  const again = await servicesIn(root);
  try {
    assert.equal((await stat(secret)).uid, 0, "root's file stays root's");
    assert.notEqual((await stat(join(root, 'mnt/sda2/appdata/linker/own'))).uid, 0, 'its own files are its own');
  } finally {
    await again.stop();
  }
});
