// A backup never needs room on the box: with the state root on a small tmpfs
// and less free space left than the dump's size, a backup to a remote target
// still succeeds; one to a local file on that disk fails cleanly (no partial file).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as pgConnect } from '../../src/db';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, runAp, runApSync, type Run } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

const asRoot = process.getuid?.() === 0;
let dir: string;
let mountPoint: string;
let root: string;
let run: Run;
let target: Server;
let targetUrl: string;
let receivedBytes = 0;
let receivedFile: string;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
const jobAsync = async (...args: string[]) => {
  const r = runAp(['ctl', ...args, '--json', '--root', root]);
  await r.exited;
  return JSON.parse(r.output.text);
};
const freeBytes = async (path: string) => {
  const s = await statfs(path);
  return s.bavail * s.bsize;
};

before(async () => {
  if (!asRoot) return;
  dir = await workspace('ap-bkspace-');
  mountPoint = join(dir, 'small');
  await mkdir(mountPoint);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=192m,mode=0755', 'tmpfs', mountPoint], { encoding: 'utf8' });
  assert.equal(mount.status, 0, mount.stderr);
  root = join(mountPoint, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(root, 'etc/ap.json'), '{}');
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  await run.waitFor(/ready: Manager at/);
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
  await until('echo running', async () => (ctl('service', 'list')[0]?.state === 'running' ? true : undefined));
  receivedFile = join(dir, 'received.apbk');
  target = createServer((req, res) => {
    const out = createWriteStream(receivedFile);
    req.on('data', (c: Buffer) => (receivedBytes += c.length));
    req.pipe(out).once('finish', () => res.writeHead(201).end());
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/big.dump`;
});

after(async () => {
  if (!asRoot) return;
  target?.close();
  if (run) await ensureStopped(run);
  spawnSync('umount', ['-l', mountPoint]);
  await rm(dir, { recursive: true, force: true });
});

describe('backup larger than the free space', { skip: asRoot ? false : 'needs root to mount a tmpfs' }, () => {
  it('streams to a remote target what would not fit on the box, and fails a local file cleanly', async () => {
    ctl('instance', 'create', 'big@example.com', '--service', 'echo');
    const status = ctl('status');
    const sql = pgConnect({ socketDir: status.db.socketDir, port: status.db.port, database: 'example.com_big', max: 1 });
    try {
      await sql`CREATE TABLE blobs (id int PRIMARY KEY, data bytea)`;
      // 48 MB that neither PostgreSQL nor pg_dump can compress.
      for (let i = 0; i < 48; i++) await sql`INSERT INTO blobs VALUES (${i}, ${randomBytes(1024 * 1024)})`;
      await sql`CHECKPOINT`;
    } finally {
      await sql.end({ timeout: 1 });
    }
    // Fill the disk until less is free than the dump will take.
    const filler = join(root, 'mnt/sda2/filler');
    const leave = 24 * 1024 * 1024;
    await writeFile(filler, Buffer.alloc(Math.max(0, (await freeBytes(root)) - leave)));
    const free = await freeBytes(root);
    assert.ok(free < 32 * 1024 * 1024, `free ${free}`);

    const remote = await jobAsync('backup', 'instance', 'big@example.com', '--url', targetUrl);
    assert.equal(remote.state, 'succeeded', remote.message);
    console.log(`# backup of ${(receivedBytes / 1048576).toFixed(1)} MB streamed out with ${(free / 1048576).toFixed(1)} MB free on the state root`);
    assert.ok(receivedBytes > free + 16 * 1024 * 1024, `sent ${receivedBytes} with ${free} free`);
    assert.equal((await jobAsync('backup', 'verify', receivedFile)).state, 'succeeded');

    const local = await jobAsync('backup', 'instance', 'big@example.com', '--file', join(root, 'mnt/sda2/big.apbk'));
    assert.equal(local.state, 'failed');
    assert.match(local.message, /ENOSPC|no space/i);
    assert.deepEqual((await readdir(join(root, 'mnt/sda2'))).filter((f) => f.startsWith('big.apbk')), []);
    await rm(filler);
  });
});
