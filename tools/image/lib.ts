// Test images and a tiny image store, for tests and the tools around them.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { getBoard } from '../../src/config';
import { IMAGE_FILES } from '../../src/image/manifest';
import { sign } from '../../src/image/sign';

export interface TestImageOptions {
  readonly board: string;
  readonly label: string;
  readonly out: string;
  /** A secret key (base64 text) to sign with; unsigned without. */
  readonly key?: string | null;
  readonly rootfsMb?: number;
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

/** kernel, ramdisk.ext2.xz, rootfs.img (ext4 with /etc/ap-image-label), manifest.json, and manifest.sig when signed. */
export async function buildTestImage(options: TestImageOptions): Promise<string> {
  getBoard(options.board as never);
  await mkdir(options.out, { recursive: true });
  const tree = await mkdtemp(join(tmpdir(), 'ap-rootfs-'));
  try {
    await mkdir(join(tree, 'etc'), { recursive: true });
    await writeFile(join(tree, 'etc/ap-image-label'), `${options.label}\n`);
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'rootfs', '-d', tree, join(options.out, 'rootfs.img'), `${options.rootfsMb ?? 8}M`], { stdio: 'pipe' });
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
  await writeFile(join(options.out, 'kernel'), Buffer.concat([Buffer.from(`kernel ${options.board} ${options.label}\n`), randomBytes(4096)]));
  await writeFile(join(options.out, 'ramdisk.ext2.xz'), Buffer.concat([Buffer.from(`ramdisk ${options.board} ${options.label}\n`), randomBytes(4096)]));
  await writeManifest(options.out, options.board, options.label, options.key ?? null);
  return options.out;
}

/**
 * Writes an image folder's manifest.json for its kernel, ramdisk.ext2.xz and
 * rootfs.img (signed into manifest.sig when given a key), and what the rescue
 * script reads on an installation medium: files.sha256 and label.
 */
export async function writeManifest(out: string, boardName: string, label: string, key: string | null): Promise<void> {
  const board = getBoard(boardName as never);
  const files = [];
  for (const name of IMAGE_FILES) files.push({ name, size: (await stat(join(out, name))).size, sha256: await sha256(join(out, name)) });
  const manifest = Buffer.from(`${JSON.stringify({ format: 1, board: board.name, arch: board.arch, label, createdAt: new Date().toISOString(), files }, null, 2)}\n`);
  await writeFile(join(out, 'manifest.json'), manifest);
  if (key) await writeFile(join(out, 'manifest.sig'), `${await sign(manifest, key)}\n`);
  await writeFile(join(out, 'files.sha256'), files.map((f) => `${f.sha256}  ${f.name}\n`).join(''));
  await writeFile(join(out, 'label'), `${label}\n`);
}

export interface ImageStore {
  readonly url: string;
  /** Requests served, for tests: path and Range header. */
  readonly requests: { path: string; range: string | undefined }[];
  /** Makes the next GET of `path` stop after `bytes` (a dropped download). */
  cutAfter(path: string, bytes: number): void;
  close(): Promise<void>;
}

/** Serves `<root>` as an image store: /images/<board>/index.json, /images/<board>/<label>/<file>, with Range. */
export async function startImageStore(root: string): Promise<ImageStore> {
  const requests: { path: string; range: string | undefined }[] = [];
  const cuts = new Map<string, number>();
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push({ path, range: req.headers.range });
    const file = normalize(join(root, path));
    if (!file.startsWith(root)) return res.writeHead(403).end();
    let size: number;
    try {
      const s = await stat(file);
      if (!s.isFile()) throw new Error('not a file');
      size = s.size;
    } catch {
      return res.writeHead(404).end();
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) start = Number(range[1]);
    if (start > size) return res.writeHead(416).end();
    res.writeHead(range ? 206 : 200, { 'content-length': size - start, ...(range ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}), 'accept-ranges': 'bytes' });
    const cut = cuts.get(path);
    if (cut !== undefined) {
      cuts.delete(path);
      const stream = createReadStream(file, { start, end: Math.min(size - 1, start + cut - 1) });
      stream.pipe(res, { end: false });
      stream.once('end', () => res.destroy());
      return;
    }
    createReadStream(file, { start, highWaterMark: 1024 * 1024 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    cutAfter: (path, bytes) => void cuts.set(path, bytes),
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

/** Publishes a built image under `storeRoot` for its board, as the latest when asked. */
export async function publishImage(storeRoot: string, imageDir: string, board: string, label: string, latest = true): Promise<void> {
  const dir = join(storeRoot, 'images', board, label);
  await mkdir(dir, { recursive: true });
  for (const name of [...IMAGE_FILES, 'manifest.json', 'manifest.sig']) {
    try {
      await writeFile(join(dir, name), await readFile(join(imageDir, name)));
    } catch {
      // an unsigned image has no manifest.sig
    }
  }
  if (latest) await writeFile(join(storeRoot, 'images', board, 'index.json'), JSON.stringify({ latest: label }));
}
