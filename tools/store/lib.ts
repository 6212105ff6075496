// Publishing app packages into an App Store folder (the vendor's layout:
// apps.json at the top, files under <build>/<arch>/<folder>/), signed the way
// the supervisor checks them. For tests and for people trying the store by hand;
// serve the folder with tools/image/store.mjs.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { sign } from '../../src/image/sign';
import { readManifest } from '../../src/services/manifest';
import { parsePackageManifest } from '../../src/store';

export interface PublishOptions {
  /** The build number: the package's folder in the store. */
  readonly build: string;
  /** arm, arm64, x86_64 (the box's), or any. */
  readonly arch: string;
  /** Where it is published; default `arch` (an "any" package still sits under each box's arch). */
  readonly under?: string;
  /** A secret key (base64 text); unsigned without. */
  readonly key?: string | null;
  readonly id?: string;
  readonly title?: string;
  readonly manufacturer?: string;
}

/** Publishes the service folder `dir` into the store at `storeRoot`; returns the package's folder. */
export async function publishApp(storeRoot: string, dir: string, options: PublishOptions): Promise<string> {
  const app = await readManifest(dir);
  // The build is stamped into the package's app.json as its label: what the box shows and compares.
  const stamped = Buffer.from(`${JSON.stringify({ ...JSON.parse(await readFile(join(dir, 'app.json'), 'utf8')), label: options.build }, null, 2)}\n`);
  const contents = new Map<string, Buffer>();
  const files = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(dir, path);
    const bytes = name === 'app.json' ? stamped : await readFile(path);
    contents.set(name, bytes);
    files.push({ path: name, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), executable: ((await stat(path)).mode & 0o111) !== 0 });
  }
  files.sort((a, b) => a.path.localeCompare(b.path));
  const manifest = Buffer.from(`${JSON.stringify({ format: 1, name: app.name, version: app.version, build: options.build, arch: options.arch, files }, null, 2)}\n`);
  parsePackageManifest(manifest); // publish nothing a box would refuse
  const out = join(storeRoot, options.build, options.under ?? options.arch, app.name);
  await writePackage(out, contents, manifest, options.key ?? null);
  const id = options.id ?? app.name;
  await addToIndex(storeRoot, (a) => a.id === id, { id, folder: app.name, binary: app.name, title: options.title ?? app.name, manufacturer: options.manufacturer ?? 'test' }, app.version, options.build);
  return out;
}

/** Writes a package's files, its manifest and (with a key) the manifest's signature into `out`. */
export async function writePackage(out: string, contents: ReadonlyMap<string, Buffer>, manifest: Buffer, key: string | null): Promise<void> {
  for (const [path, bytes] of contents) {
    await mkdir(join(out, path, '..'), { recursive: true });
    await writeFile(join(out, path), bytes);
  }
  await writeFile(join(out, 'manifest.json'), manifest);
  if (key) await writeFile(join(out, 'manifest.sig'), `${await sign(manifest, key)}\n`);
}

/** Adds build `build` (version `version`) to the store's apps.json entry that `find` picks, made from `fresh` when there is none. */
export async function addToIndex(storeRoot: string, find: (entry: Record<string, unknown>) => boolean, fresh: Record<string, unknown>, version: string, build: string): Promise<void> {
  const indexFile = join(storeRoot, 'apps.json');
  const index = JSON.parse(await readFile(indexFile, 'utf8').catch(() => '{"apps": []}')) as { apps: Record<string, unknown>[] };
  let entry = index.apps.find(find);
  if (!entry) {
    entry = { ...fresh, versions: [] };
    index.apps.push(entry);
  }
  const versions = (entry.versions as { id: string; build: string; label: string }[]).filter((v) => v.build !== build);
  versions.push({ id: version, build, label: `${version} (${build})` });
  entry.versions = versions;
  await writeFile(indexFile, `${JSON.stringify(index, null, 2)}\n`);
}
