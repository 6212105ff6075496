// Where the controllers are and which hierarchy the supervisor uses, from the
// texts of /proc/self/mountinfo and /proc/self/cgroup as boxes have them; and
// the limits' precedence and the v1 numbers. Pure.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseLayout, folderOf, groupName, highOf, memoryLimitMB, parseMountinfo, parseProcCgroup, resolveLimits, sharesOf } from '../../src/cgroup';

// This CI machine: v1 per controller, an empty v2 (only hugetlb) at /sys/fs/cgroup/unified.
const V1_MOUNTINFO = `22 1 0:20 / / rw,relatime - overlay overlay rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V1_CGROUP = `9:name=systemd:/
8:pids:/
4:memory:/process_api/4fed
2:cpuacct:/
1:cpu:/
0::/
`;
// systemd's hybrid layout: cpu and cpuacct one hierarchy.
const COMOUNTED = `25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
27 24 0:24 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
`;
// A box after rcS: cgroup2 alone at /sys/fs/cgroup.
const V2_MOUNTINFO = `17 1 8:3 / / rw,relatime - ext4 /dev/sda3 rw
25 17 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 none rw
`;

const controllers = (map: Record<string, string>) => (folder: string) => map[folder]?.split(' ') ?? null;

describe('finding the hierarchy', () => {
  it('reads cgroup mounts from mountinfo, v1 controllers from the super options', () => {
    assert.deepEqual(parseMountinfo(V1_MOUNTINFO).map((m) => [m.at, m.version, m.controllers.join(',')]), [
      ['/sys/fs/cgroup/cpu', 1, 'cpu'],
      ['/sys/fs/cgroup/cpuacct', 1, 'cpuacct'],
      ['/sys/fs/cgroup/memory', 1, 'memory'],
      ['/sys/fs/cgroup/pids', 1, 'pids'],
      ['/sys/fs/cgroup/systemd', 1, ''],
      ['/sys/fs/cgroup/unified', 2, ''],
    ]);
    assert.deepEqual(parseMountinfo(COMOUNTED)[0]!.controllers, ['cpu', 'cpuacct']);
    // Blanks in a mount point are escaped as octal.
    assert.equal(parseMountinfo('50 1 0:40 / /mnt/my\\040groups rw - cgroup2 cgroup2 rw\n')[0]!.at, '/mnt/my groups');
  });

  it('reads the own groups from /proc/self/cgroup', () => {
    const self = parseProcCgroup(V1_CGROUP);
    assert.equal(self.unified, '/');
    assert.equal(self.v1.get('memory'), '/process_api/4fed');
    assert.equal(self.v1.get('cpu'), '/');
    assert.equal(parseProcCgroup('2:cpu,cpuacct:/user.slice\n').v1.get('cpuacct'), '/user.slice');
  });

  it('maps a group to its folder in a mount whose root is not the hierarchy root', () => {
    const mount = { at: '/sys/fs/cgroup', root: '/lxc/box', version: 2 as const, controllers: [] };
    assert.equal(folderOf(mount, '/lxc/box/ap'), '/sys/fs/cgroup/ap');
    assert.equal(folderOf(mount, '/lxc/box'), '/sys/fs/cgroup');
    assert.equal(folderOf(mount, '/elsewhere'), null);
  });

  it('takes v1 when the v2 beside it has no memory controller (this machine)', () => {
    const layout = chooseLayout(parseMountinfo(V1_MOUNTINFO), parseProcCgroup(V1_CGROUP), controllers({ '/sys/fs/cgroup/unified': 'hugetlb' }));
    assert.deepEqual(layout, {
      version: 1,
      own: { memory: '/sys/fs/cgroup/memory/process_api/4fed', cpu: '/sys/fs/cgroup/cpu', cpuacct: '/sys/fs/cgroup/cpuacct', pids: '/sys/fs/cgroup/pids' },
    });
  });

  it('takes v2 where its mount has memory, cpu and pids, noting whether we sit at its root', () => {
    const have = controllers({ '/sys/fs/cgroup': 'cpuset cpu io memory pids' });
    assert.deepEqual(chooseLayout(parseMountinfo(V2_MOUNTINFO), parseProcCgroup('0::/\n'), have), { version: 2, own: '/sys/fs/cgroup', mountRoot: true });
    assert.deepEqual(chooseLayout(parseMountinfo(V2_MOUNTINFO), parseProcCgroup('0::/system.slice/ap.service\n'), have), {
      version: 2,
      own: '/sys/fs/cgroup/system.slice/ap.service',
      mountRoot: false,
    });
  });

  it('uses co-mounted cpu,cpuacct as one folder for both', () => {
    const layout = chooseLayout(parseMountinfo(COMOUNTED), parseProcCgroup('3:pids:/\n2:cpu,cpuacct:/\n1:memory:/\n'), () => null);
    assert.equal(layout.version, 1);
    if (layout.version === 1) assert.equal(layout.own.cpu, layout.own.cpuacct);
  });

  it('says why when nothing usable is mounted', () => {
    assert.deepEqual(chooseLayout([], parseProcCgroup(''), () => null), { version: null, reason: 'no cgroup filesystem is mounted' });
    const bare = chooseLayout(parseMountinfo(V2_MOUNTINFO), parseProcCgroup('0::/\n'), controllers({ '/sys/fs/cgroup': 'cpu' }));
    assert.deepEqual(bare, { version: null, reason: 'the cgroup2 at /sys/fs/cgroup lacks memory, pids' });
    const partial = chooseLayout(parseMountinfo(V1_MOUNTINFO.replace(/.*pids.*\n/, '')), parseProcCgroup(V1_CGROUP), controllers({}));
    assert.match(partial.version === null ? partial.reason : '', /cgroup v1 lacks pids/);
  });

  it('names the supervisor group after its state root, plain "ap" on a box', () => {
    assert.equal(groupName('/'), 'ap');
    assert.match(groupName('/tmp/x'), /^ap-[0-9a-f]{8}$/);
    assert.notEqual(groupName('/tmp/x'), groupName('/tmp/y'));
  });
});

describe('limits', () => {
  const board = { memoryMB: 48, instanceMB: 4, cpuWeight: 100, pids: 64 };

  it('takes the setting over app.json over the board, field by field, and says where each comes from', () => {
    const limits = resolveLimits({ memoryMB: 80 }, { memoryMB: 32, pids: 16 }, board);
    assert.deepEqual(limits, { memoryMB: 80, instanceMB: 4, cpuWeight: 100, pids: 16, source: { memoryMB: 'setting', instanceMB: 'board', cpuWeight: 'board', pids: 'package' } });
    assert.deepEqual(resolveLimits({}, {}, board).source, { memoryMB: 'board', instanceMB: 'board', cpuWeight: 'board', pids: 'board' });
  });

  it('adds instanceMB per instance to the memory limit', () => {
    assert.equal(memoryLimitMB(board, 0), 48);
    assert.equal(memoryLimitMB(board, 3), 60);
  });

  it('converts cpu.weight to v1 cpu.shares (100 ↔ 1024) and sets memory.high below memory.max', () => {
    assert.deepEqual([1, 100, 400, 10000].map(sharesOf), [10, 1024, 4096, 102400]);
    assert.equal(sharesOf(0.1), 2, "the kernel's floor");
    assert.equal(highOf(52 * 1024 * 1024), 49070080, "90 %, whole pages");
    assert.equal(highOf(52 * 1024 * 1024) % 4096, 0);
  });
});
