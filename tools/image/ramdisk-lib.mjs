// The rescue ramdisk's build (tools/image/ramdisk.mjs, test/vm): Debian's
// packages fetched and unpacked below a work folder, the initramfs written as
// a newc cpio by this file (no cpio on the host, every entry owned by root,
// mtime 0), the result cached under a folder named by the hash of its inputs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const INIT = join(REPO, 'rootfs-scripts/ramdisk-init.sh');
const SCRIPT = join(REPO, 'rootfs-scripts/install_step1.sh');

/**
 * Debian packages unpacked for the ramdisk: BusyBox, the disk tools, and the
 * libraries they link. Debian's `busybox`, not `busybox-static`: the static
 * one's sh prefers its own applets to the PATH, so the script's mke2fs -t ext2
 * would run BusyBox's mke2fs, which has no -t.
 */
const PACKAGES = [
  'busybox', 'e2fsprogs', 'fdisk', 'util-linux', 'zstd', 'libzstd1', 'liblzma5', 'liblz4-1', 'zlib1g',
  'libc6', 'libfdisk1', 'libsmartcols1', 'libtinfo6', 'libreadline8', 'libuuid1', 'libblkid1',
  'libext2fs2', 'libcom-err2', 'libselinux1', 'libpcre2-8-0',
];

/** The real tools the rescue script calls, where BusyBox's applets of the same name fall short. */
const TOOLS = ['sfdisk', 'mke2fs', 'e2fsck', 'resize2fs', 'mkswap', 'blkid', 'blockdev', 'partx', 'zstd'];

/**
 * GRUB for BIOS boot, as `install` writes it: boot.img into the MBR's first
 * 440 bytes, core.img into the gap before p1 (sector 1 on, under 1 MiB). Its
 * defaults need no patching there: boot.img loads sector 1, and grub-mkimage
 * fills in core.img's own length. Everything grub.cfg uses is built into
 * core.img, so p1 holds no GRUB modules.
 */
const GRUB_DIR = '/usr/lib/grub/i386-pc';
const GRUB_MODULES = ['biosdisk', 'part_msdos', 'ext2', 'linux', 'normal', 'configfile', 'echo', 'test', 'serial', 'terminal'];
const TOOL_LINKS = { 'mkfs.ext4': 'mke2fs', 'mkfs.ext3': 'mke2fs', 'mkfs.ext2': 'mke2fs', 'fsck.ext4': 'e2fsck', 'fsck.ext2': 'e2fsck' };

/**
 * The modules that let the kernel see the disk (SATA as on Hyper-V, VMware and
 * QEMU's q35, or virtio) and mount ext2/ext4, with the config symbol that says
 * whether Debian built them in (=y, nothing to load) or as a module (=m).
 */
const MODULES = {
  ahci: 'SATA_AHCI',
  ata_piix: 'ATA_PIIX',
  sd_mod: 'BLK_DEV_SD',
  virtio_pci: 'VIRTIO_PCI',
  virtio_blk: 'VIRTIO_BLK',
  virtio_scsi: 'SCSI_VIRTIO',
  crc32c_generic: 'CRYPTO_CRC32C',
  ext4: 'EXT4_FS',
};

const run = (cmd, args, options = {}) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'], ...options });

/** Package → version apt would download now. */
function candidates(names) {
  const text = run('apt-cache', ['show', '--no-all-versions', ...names]);
  const versions = {};
  for (const block of text.split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(block)?.[1];
    const version = /^Version: (.+)$/m.exec(block)?.[1];
    if (name && version && !versions[name]) versions[name] = version;
  }
  const lacking = names.filter((n) => !versions[n]);
  if (lacking.length) throw new Error(`apt knows no ${lacking.join(', ')} (apt-get update?)`);
  return versions;
}

/** The versioned kernel package linux-image-amd64 stands for (linux-image-6.1.0-…-amd64). */
function kernelPackage() {
  const name = /Depends: (linux-image-[0-9][^\s]*-amd64)/.exec(run('apt-cache', ['depends', 'linux-image-amd64']))?.[1];
  if (!name) throw new Error('apt-cache depends linux-image-amd64 names no linux-image-<version>-amd64');
  return name;
}

/** Every file below `dir`, relative, sorted, directories before their contents. */
function walk(dir, base = dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    out.push(relative(base, path));
    if (lstatSync(path).isDirectory()) out.push(...walk(path, base));
  }
  return out;
}

/** A newc cpio archive of `root`, plus `extra` entries (device nodes a non-root build could not make). */
export function cpioNewc(root, extra = []) {
  const chunks = [];
  let ino = 1;
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  const entry = (name, mode, data, rdev = [0, 0]) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    chunks.push(header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length));
  };
  for (const rel of walk(root)) {
    const path = join(root, rel);
    const st = lstatSync(path);
    if (st.isSymbolicLink()) entry(rel, 0o120777, Buffer.from(readlinkSync(path)));
    else if (st.isDirectory()) entry(rel, 0o40000 | (st.mode & 0o7777), Buffer.alloc(0));
    else entry(rel, 0o100000 | (st.mode & 0o7777), readFileSync(path));
  }
  for (const e of extra) entry(e.name, e.mode, Buffer.alloc(0), e.rdev);
  entry('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(chunks);
}

/** The path of `file` below `tree` in the usual bin folders. */
function findBin(tree, file) {
  for (const d of ['sbin', 'usr/sbin', 'bin', 'usr/bin']) {
    const path = join(tree, d, file);
    if (existsSync(path)) return path;
  }
  throw new Error(`no ${file} in the unpacked packages`);
}

/** The shared libraries `binary` needs, resolved among the unpacked packages only. */
function libraries(binary, tree) {
  const libDirs = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'].map((d) => join(tree, d));
  const text = run('ldd', [binary], { env: { ...process.env, LD_LIBRARY_PATH: libDirs.join(':') } });
  const libs = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\S+) => (\S+)/.exec(line);
    if (!m) continue;
    if (m[2] === 'not' || !m[2].startsWith(tree)) throw new Error(`${binary.slice(tree.length)} needs ${m[1]}, which none of the packages (${PACKAGES.join(', ')}) holds`);
    libs.push({ soname: m[1], path: m[2] });
  }
  return libs;
}

/** The modules to load, in order (dependencies first), as paths below lib/modules/<version>. */
function moduleOrder(kernelTree, version) {
  const config = readFileSync(join(kernelTree, 'boot', `config-${version}`), 'utf8');
  const depText = readFileSync(join(kernelTree, 'lib/modules', version, 'modules.dep'), 'utf8');
  const deps = new Map();
  for (const line of depText.split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod) deps.set(mod, (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((p) => [p.split('/').pop().replace(/\.ko(\.xz|\.zst|\.gz)?$/, '').replace(/-/g, '_'), p]));
  const order = [];
  const visit = (path) => {
    if (order.includes(path)) return;
    // modules.dep lists every module `path` needs, the last first to load.
    for (const dep of [...deps.get(path)].reverse()) visit(dep);
    order.push(path);
  };
  for (const [name, symbol] of Object.entries(MODULES)) {
    const setting = new RegExp(`^CONFIG_${symbol}=(.)`, 'm').exec(config)?.[1];
    if (setting === 'y') continue;
    if (setting !== 'm') throw new Error(`kernel ${version} has no ${name} (CONFIG_${symbol} is not set)`);
    const path = byName.get(name);
    if (!path) throw new Error(`kernel ${version}: ${name} is a module but not in modules.dep`);
    visit(path);
  }
  return order;
}

/**
 * Builds (or takes from `cache`) the x86_64 rescue ramdisk and kernel.
 * Resolves with the files' paths, sizes, and whether they came from the cache.
 */
export async function buildRamdisk({ board, cache, log = () => {} }) {
  if (board !== 'x86_64') throw new Error(`the rescue ramdisk is built for the x86_64 board only (not "${board}")`);
  const started = process.hrtime.bigint();
  const kernelPkg = kernelPackage();
  const versions = candidates([...PACKAGES, kernelPkg]);
  const boardEnv = run(process.execPath, [join(REPO, 'tools/image/board-env.mjs'), board]);
  const grub = grubVersion();
  const hash = createHash('sha256')
    .update(JSON.stringify({ versions, boardEnv, modules: MODULES, tools: TOOLS, grub, grubModules: GRUB_MODULES }))
    .update(readFileSync(INIT))
    .update(readFileSync(SCRIPT))
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 16);
  const dir = join(cache, `ramdisk-${board}-${hash}`);
  const result = (cached) => {
    const info = JSON.parse(readFileSync(join(dir, 'info.json'), 'utf8'));
    return {
      dir,
      cached,
      kernel: join(dir, 'kernel'),
      ramdisk: join(dir, 'ramdisk.cpio.gz'),
      kernelVersion: info.kernelVersion,
      kernelBytes: statSync(join(dir, 'kernel')).size,
      ramdiskBytes: statSync(join(dir, 'ramdisk.cpio.gz')).size,
      seconds: Number(process.hrtime.bigint() - started) / 1e9,
    };
  };
  if (existsSync(join(dir, 'info.json'))) return result(true);

  const work = `${dir}.work-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  const debs = join(work, 'debs');
  const tree = join(work, 'unpacked');
  const kernelTree = join(work, 'kernel');
  const root = join(work, 'root');
  for (const d of [debs, tree, kernelTree, root]) await mkdir(d, { recursive: true });
  try {
    log(`ramdisk: fetching ${PACKAGES.length + 1} packages (apt-get download)`);
    run('apt-get', ['download', '-q', ...Object.entries(versions).map(([n, v]) => `${n}=${v}`)], { cwd: debs });
    for (const deb of readdirSync(debs).sort()) {
      run('dpkg-deb', ['-x', join(debs, deb), deb.startsWith(`${kernelPkg}_`) ? kernelTree : tree]);
    }
    const kernelVersion = kernelPkg.replace(/^linux-image-/, '');
    // The package leaves modules.dep to the depmod of the machine it is installed on: BusyBox's, here.
    run(findBin(tree, 'busybox'), ['depmod', '-b', kernelTree, kernelVersion]);

    for (const d of ['bin', 'sbin', 'etc/ap', 'lib/x86_64-linux-gnu', 'lib64', 'home/root', 'proc', 'sys', 'dev', 'tmp', 'run', 'mnt', 'root', 'usr/lib/ap/grub']) {
      await mkdir(join(root, d), { recursive: true });
    }
    // The seed tells technicians to edit /boot/grub/grub.cfg in the rescue system: p1, where the script mounts it.
    await symlink('mnt/sda1', join(root, 'boot'));
    await copyFile(join(GRUB_DIR, 'boot.img'), join(root, 'usr/lib/ap/grub/boot.img'));
    run('grub-mkimage', ['-d', GRUB_DIR, '-O', 'i386-pc', '-p', '(hd0,msdos1)/grub', '-o', join(root, 'usr/lib/ap/grub/core.img'), ...GRUB_MODULES]);
    const coreBytes = statSync(join(root, 'usr/lib/ap/grub/core.img')).size;
    if (coreBytes > 1023 * 512) throw new Error(`GRUB's core.img is ${coreBytes} bytes: more than the 1 MiB before p1 holds`);
    // BusyBox for everything but the tools taken whole from their packages.
    await copyFile(findBin(tree, 'busybox'), join(root, 'bin/busybox'));
    await chmod(join(root, 'bin/busybox'), 0o755);
    const applets = run(join(root, 'bin/busybox'), ['--list']).split('\n').filter(Boolean);
    const real = new Set([...TOOLS, ...Object.keys(TOOL_LINKS), 'modprobe']);
    for (const applet of applets) {
      if (applet !== 'busybox' && !real.has(applet)) await symlink('busybox', join(root, 'bin', applet));
    }
    const libs = new Map();
    for (const lib of libraries(findBin(tree, 'busybox'), tree)) libs.set(lib.soname, lib.path);
    for (const tool of TOOLS) {
      const from = findBin(tree, tool);
      await copyFile(from, join(root, 'sbin', tool));
      await chmod(join(root, 'sbin', tool), 0o755);
      for (const lib of libraries(from, tree)) libs.set(lib.soname, lib.path);
    }
    for (const [link, target] of Object.entries(TOOL_LINKS)) await symlink(target, join(root, 'sbin', link));
    // Where the kernel runs modprobe for what a module asks for by name (crypto algorithms).
    await symlink('../bin/busybox', join(root, 'sbin/modprobe'));
    for (const [soname, path] of libs) await copyFile(path, join(root, 'lib/x86_64-linux-gnu', soname));
    await copyFile(join(tree, 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'), join(root, 'lib64/ld-linux-x86-64.so.2'));
    await chmod(join(root, 'lib64/ld-linux-x86-64.so.2'), 0o755);
    if (existsSync(join(tree, 'etc/mke2fs.conf'))) await copyFile(join(tree, 'etc/mke2fs.conf'), join(root, 'etc/mke2fs.conf'));

    // Modules, uncompressed (BusyBox's insmod may not read .xz), with a modules.dep for its modprobe.
    const order = moduleOrder(kernelTree, kernelVersion);
    const modDir = join(root, 'lib/modules', kernelVersion);
    const plain = (p) => p.replace(/\.ko\.(xz|zst|gz)$/, '.ko');
    for (const path of order) {
      const from = join(kernelTree, 'lib/modules', kernelVersion, path);
      const to = join(modDir, plain(path));
      await mkdir(dirname(to), { recursive: true });
      if (path.endsWith('.xz')) await writeFile(to, run('xz', ['-dc', from], { encoding: 'buffer' }));
      else if (path.endsWith('.ko')) await copyFile(from, to);
      else throw new Error(`cannot unpack module ${path}`);
    }
    await writeFile(join(root, 'etc/ap/modules'), order.map(plain).join('\n') + '\n');
    await writeFile(join(modDir, 'modules.dep'), order.map((p, i) => `${plain(p)}: ${order.slice(0, i).reverse().map(plain).join(' ')}`.trimEnd()).join('\n') + '\n');

    await writeFile(join(root, 'etc/ap/board.env'), boardEnv);
    await copyFile(SCRIPT, join(root, 'home/root/install_step1.sh'));
    await chmod(join(root, 'home/root/install_step1.sh'), 0o755);
    await copyFile(INIT, join(root, 'init'));
    await chmod(join(root, 'init'), 0o755);
    // The seed's rescue login: root / iplinux.
    const hashed = run(join(root, 'bin/busybox'), ['mkpasswd', '-m', 'sha512', '-S', 'aprescue', 'iplinux']).trim();
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/home/root:/bin/sh\n');
    await writeFile(join(root, 'etc/shadow'), `root:${hashed}:19000:0:99999:7:::\n`);
    await chmod(join(root, 'etc/shadow'), 0o600);
    await writeFile(join(root, 'etc/group'), 'root:x:0:\n');

    const out = join(work, 'out');
    await mkdir(out);
    // The kernel opens /dev/console before /init mounts devtmpfs: the node must be in the archive.
    const archive = cpioNewc(root, [{ name: 'dev/console', mode: 0o20600, rdev: [5, 1] }]);
    await writeFile(join(out, 'ramdisk.cpio.gz'), gzipSync(archive, { level: 9 }));
    await copyFile(join(kernelTree, 'boot', `vmlinuz-${kernelVersion}`), join(out, 'kernel'));
    await writeFile(join(out, 'info.json'), JSON.stringify({ board, kernelVersion, versions, grub, modules: order.map(plain), libraries: [...libs.keys()] }, null, 2) + '\n');
    // The first build to finish wins (two vm tests may build the same ramdisk at once): a
    // folder that is there is complete (renamed whole), and another build's is the same.
    if (!existsSync(join(dir, 'info.json'))) {
      await rm(dir, { recursive: true, force: true });
      await rename(out, dir).catch((err) => {
        if (!existsSync(join(dir, 'info.json'))) throw err;
      });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  log(`ramdisk: built in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
  return result(false);
}

/** grub-pc-bin's version on this machine (its i386-pc modules make core.img), or why there is none. */
function grubVersion() {
  if (!existsSync(join(GRUB_DIR, 'boot.img'))) throw new Error(`no ${GRUB_DIR}/boot.img (apt-get install grub-pc-bin)`);
  try {
    return run('dpkg-query', ['-W', '-f', '${Version}', 'grub-pc-bin']);
  } catch {
    return 'unknown';
  }
}

/** Reads the cached build's record (for tests that print what they booted). */
export async function ramdiskInfo(dir) {
  return JSON.parse(await readFile(join(dir, 'info.json'), 'utf8'));
}
