// Publishing the supervisor itself into an App Store folder: the package
// "manager" (one per architecture) holds a bundle's files (dist/: ap.js and
// what it loads beside it) and an app.json whose label is the build, which
// the running supervisor reports (src/selfupdate). Signed like any package.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parsePackageManifest } from '../../src/store';
import { addToIndex, writePackage } from './lib';
import pkg from '../../package.json';

export interface ManagerPackageOptions {
  readonly build: string;
  /** x86_64, arm64 or arm: the bundle's native addons are of one architecture. */
  readonly arch: string;
  /** A secret key (base64 text); unsigned without (for tests of the refusal). */
  readonly key: string | null;
  /** The version people read (default package.json's). */
  readonly version?: string;
  /** Replaces files of the bundle by these (a test's broken build). */
  readonly replace?: Readonly<Record<string, string | Buffer>>;
}

/** Publishes the bundle folder `dist` as build `build` of the supervisor; returns the package's folder. */
export async function publishManager(storeRoot: string, dist: string, options: ManagerPackageOptions): Promise<string> {
  if (!/^\d{1,12}$/.test(options.build)) throw new Error(`"${options.build}" is not a build number`);
  const version = options.version ?? pkg.version;
  const contents = new Map<string, Buffer>();
  for (const entry of await readdir(dist, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const name = relative(dist, join(entry.parentPath, entry.name));
    if (name === 'app.json' || name.split('/').some((s) => s.startsWith('.'))) continue;
    contents.set(name, await readFile(join(dist, name)));
  }
  if (!contents.has('ap.js')) throw new Error(`${dist} has no ap.js: build the bundle first (npm run build)`);
  for (const [name, bytes] of Object.entries(options.replace ?? {})) contents.set(name, Buffer.from(bytes));
  contents.set('app.json', Buffer.from(`${JSON.stringify({ name: 'manager', version, label: options.build }, null, 2)}\n`));
  const files = [...contents.entries()]
    .map(([path, bytes]) => ({ path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), executable: path === 'ap.js' }))
    .sort((a, b) => a.path.localeCompare(b.path));
  const manifest = Buffer.from(`${JSON.stringify({ format: 1, name: 'manager', version, build: options.build, arch: options.arch, files }, null, 2)}\n`);
  parsePackageManifest(manifest, { service: false }); // publish nothing a box would refuse
  const out = join(storeRoot, options.build, options.arch, 'manager');
  await writePackage(out, contents, manifest, options.key);
  await addToIndex(storeRoot, (a) => a.folder === 'manager', { id: 'manager', folder: 'manager', binary: 'manager', title: 'App Platform Manager', manufacturer: 'App Platform' }, version, options.build);
  return out;
}
