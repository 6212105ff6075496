// The command file's URLs as a receiver sees them: every expansion arrives
// percent-encoded in the request path, so `##` is a "#" in the file name
// (%23), not the start of a fragment that cut the name short.
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let receiver: Server;
let receiverUrl: string;
const paths: string[] = [];

// A box label (#L) with characters that mean something in a URL.
const LABEL = "10024 #?/%&=+:@;,$!'()*";

before(async () => {
  dir = await workspace('ap-backup-url-');
  root = await rootWithConfig(dir, {});
  await mkdir(join(root, 'mnt/sda1'), { recursive: true });
  await writeFile(join(root, 'mnt/sda1/label'), `${LABEL}\n`);
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      paths.push(req.url!);
      res.statusCode = 201;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  await readyPorts(run);
});

after(async () => {
  receiver?.closeAllConnections();
  receiver?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('command file URLs', () => {
  it('arrive whole at the receiver: ## as %23, reserved characters of an expansion encoded', async () => {
    // An hour far from now, so the schedule's own tick does not run it during the test.
    const text = `times ${(new Date().getUTCHours() + 12) % 24}\nbackup-manager ${receiverUrl}/store/#I-#b0-##.dump\nbackup-manager ${receiverUrl}/store/#L.dump?label=#L\n`;
    const set = runApSync(['ctl', 'setting', 'set', 'commandFile', '-', '--root', root], {}, text);
    assert.equal(set.status, 0, set.stderr);
    // ap ctl runs asynchronously: the receiver lives in this process.
    const backup = runAp(['ctl', 'backup', 'run', '--json', '--root', root]);
    await backup.exited;
    assert.deepEqual(JSON.parse(backup.output.text), { ok: 2, failed: 0, skipped: [] });
    const encodedLabel = '10024%20%23%3F%2F%25%26%3D%2B%3A%40%3B%2C%24%21%27%28%29%2A';
    assert.deepEqual(paths, ['/store/manager-0-%23.dump', `/store/${encodedLabel}.dump?label=${encodedLabel}`]);
    assert.equal(decodeURIComponent(paths[1]!.slice('/store/'.length, paths[1]!.indexOf('?'))), `${LABEL}.dump`);
  });
});
