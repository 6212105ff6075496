// overlay/usr/sbin/ap-cgroups under BusyBox sh (rcS calls it at boot): it
// mounts cgroup2 where nothing is mounted and hands memory, cpu and pids down
// from the root. Run against a scratch tmpfs with a controller list standing
// in for a box's root, never a cgroup2 mount: any mount of it is this
// machine's one v2 hierarchy. (The mount itself was checked by hand on a
// scratch folder: cgroup2fs, its root's controllers left alone when v1 holds them.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { missing } from '../harness/optional';
import { REPO } from '../harness/supervisor';
import { workspace } from '../harness/workspace';

const SCRIPT = join(REPO, 'overlay/usr/sbin/ap-cgroups');
const skip = missing('busybox') ?? (process.getuid?.() === 0 ? false : 'needs root to mount a scratch file system');
let dir: string;

const mount = (...args: string[]) => assert.equal(spawnSync('mount', args).status, 0, `mount ${args.join(' ')}`);
const run = (at: string) => spawnSync('busybox', ['sh', SCRIPT, at], { encoding: 'utf8', env: { PATH: process.env.PATH } });

before(async () => {
  if (skip) return;
  dir = await workspace('ap-cgroups-');
});
after(async () => {
  if (!dir) return;
  await rm(dir, { recursive: true, force: true });
});

describe('ap-cgroups (rcS)', { skip }, () => {
  it('enables memory, cpu and pids in one write where the root has them, and only those it has', () => {
    mount('-t', 'tmpfs', 'tmpfs', dir); // mounted: the script must not mount over it
    try {
      writeFileSync(join(dir, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma\n');
      writeFileSync(join(dir, 'cgroup.subtree_control'), '');
      assert.equal(run(dir).status, 0);
      assert.equal(readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8'), '+memory +cpu +pids\n');
      writeFileSync(join(dir, 'cgroup.controllers'), 'cpu io\n');
      writeFileSync(join(dir, 'cgroup.subtree_control'), '');
      assert.equal(run(dir).status, 0);
      assert.equal(readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8'), '+cpu\n');
    } finally {
      spawnSync('umount', [dir]);
    }
  });

});
