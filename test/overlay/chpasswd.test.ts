// overlay/usr/sbin/ap-chpasswd under BusyBox sh: the Manager's Linux
// passwords go through chpasswd and root's and admin's /etc/shadow lines are
// kept on p2, and put back into the next image's /etc/shadow at boot.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { missing } from '../harness/optional';
import { REPO } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

const SCRIPT = join(REPO, 'overlay/usr/sbin/ap-chpasswd');
const skip = missing('busybox');
let dir: string;

const IMAGE_SHADOW = 'root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\nadmin:*:20000:0:99999:7:::\n';

function run(args: string[], input: string, chpasswd = join(dir, 'chpasswd')) {
  return spawnSync('busybox', ['sh', SCRIPT, ...args], {
    encoding: 'utf8',
    input,
    env: { PATH: process.env.PATH, SHADOW: join(dir, 'shadow'), SAVED: join(dir, 'p2/etc/shadow.ap'), CHPASSWD: chpasswd },
  });
}

before(async () => {
  if (skip) return;
  dir = await workspace('ap-chpasswd-');
  // A stand-in for chpasswd that sets "hash-of-<password>" for each user:password line.
  await writeFile(join(dir, 'chpasswd'), `#!/bin/sh
while IFS=: read -r user pw; do
  sed -i "s|^$user:[^:]*:|$user:hash-of-$pw:|" "$SHADOW"
done
`, { mode: 0o755 });
  await writeFile(join(dir, 'failing'), '#!/bin/sh\necho "chpasswd: refused" >&2\nexit 1\n', { mode: 0o755 });
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ap-chpasswd', { skip: skip ?? false }, () => {
  it('sets the password and keeps root and admin lines on p2, readable by root only', async () => {
    await writeFile(join(dir, 'shadow'), IMAGE_SHADOW);
    const r = run([], 'admin:s3cret-Pw\n');
    assert.equal(r.status, 0, r.stderr);
    const saved = await readFile(join(dir, 'p2/etc/shadow.ap'), 'utf8');
    assert.equal(saved, 'root:*:20000:0:99999:7:::\nadmin:hash-of-s3cret-Pw:20000:0:99999:7:::\n');
    assert.equal(statSync(join(dir, 'p2/etc/shadow.ap')).mode & 0o777, 0o600);
  });

  it("puts them back into a new image's /etc/shadow, leaving its other lines", async () => {
    await writeFile(join(dir, 'shadow'), `${IMAGE_SHADOW}postgres:*:20001:0:99999:7:::\n`);
    const r = run(['--restore'], '');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(join(dir, 'shadow'), 'utf8'), 'root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\nadmin:hash-of-s3cret-Pw:20000:0:99999:7:::\npostgres:*:20001:0:99999:7:::\n');
  });

  it('a refused password changes neither /etc/shadow nor what p2 keeps', async () => {
    await writeFile(join(dir, 'shadow'), IMAGE_SHADOW);
    const before = await readFile(join(dir, 'p2/etc/shadow.ap'), 'utf8');
    const r = run([], 'admin:other\n', join(dir, 'failing'));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /refused/);
    assert.equal(await readFile(join(dir, 'p2/etc/shadow.ap'), 'utf8'), before);
    assert.equal(await readFile(join(dir, 'shadow'), 'utf8'), IMAGE_SHADOW);
  });

  it('--restore without anything kept changes nothing', async () => {
    await rm(join(dir, 'p2/etc/shadow.ap'));
    await writeFile(join(dir, 'shadow'), IMAGE_SHADOW);
    assert.equal(run(['--restore'], '').status, 0);
    assert.equal(await readFile(join(dir, 'shadow'), 'utf8'), IMAGE_SHADOW);
    assert.equal(existsSync(join(dir, 'shadow.ap-new')), false);
  });
});
