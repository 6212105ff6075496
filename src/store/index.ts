// The App Store: the index of apps a store publishes (apps.json, the vendor's
// layout) and installing one of them. A package is the service folder's files
// under <store>/<build>/<arch>/<folder>/, listed with their sizes and SHA-256
// in a manifest.json that is signed (manifest.sig, ed25519) with a key the box
// trusts — the same keys as OS images. The vendor signs nothing; we do.
//
// Nothing is installed before every check passed: the signature, the
// manifest (name, build, architecture, safe relative paths, sizes), each
// file's bytes as they arrive, and the app.json among them. Files land in a
// fresh folder on p2 that is removed either way; the ordinary install then
// copies it in and swaps it with the running version.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { objectBody, T, type ApiRoute } from '../api';
import { ApError, InvalidField } from '../errors';
import { BuildNumber, fileDigest, loadTrustedKeys, parseSigned, SignedFormat, verifyWithAny } from '../image';
import { JobView, type JobControl, type Jobs } from '../jobs';
import { readManifest, type Manifest } from '../services';
import { checkServiceName, isServiceName } from '../names';
import { fetchLimited, fetchStream } from '../net';
import { fits, type Static } from '../schema';

/** The largest index and manifest read, and the largest package. */
const MAX_INDEX = 4 * 1024 * 1024;
const MAX_MANIFEST = 1024 * 1024;
export const MAX_PACKAGE = 512 * 1024 * 1024;
const MAX_FILES = 10_000;

export { StoreApp, StoreList, StoreVersion } from './views';
import { StoreList, type StoreApp, type StoreVersion } from './views';

/** One build of an app in the index. */
const IndexVersion = T.Object({
  /** The version as people read it, e.g. "1.2.0" or "13r3". */
  id: T.Optional(T.String()),
  /** The build number: the package's folder in the store. */
  build: BuildNumber,
  label: T.Optional(T.String()),
});

/** An app in the vendor's apps.json; fields it does not use (a vendor's index has more) are let through. */
const IndexEntry = T.Object({
  id: T.String({ minLength: 1 }),
  /** The service's name: its folder in the store and on the box (/apps/<folder>). */
  folder: T.String(),
  binary: T.Optional(T.String()),
  title: T.Optional(T.String()),
  manufacturer: T.Optional(T.String()),
  description: T.Optional(T.String()),
  // Each checked on its own: a bad version is left out, not the app.
  versions: T.Array(T.Unknown()),
});

const BUILD = /^\d{1,12}$/;
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._+@-]{0,127}$/;

const PackageFile = T.Object({
  path: T.String({ maxLength: 1024 }),
  ...fileDigest(0, Number.MAX_SAFE_INTEGER),
  executable: T.Optional(T.Boolean()),
});
export type PackageFile = Readonly<Required<Static<typeof PackageFile>>>;

/** manifest.json of an App Store package: the signed part of it (image manifests share its format, build number and file digests). */
export const PackageManifest = T.Object({
  ...SignedFormat,
  name: T.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', errorMessage: 'must name a valid service' }),
  version: T.String({ minLength: 1, maxLength: 50, errorMessage: 'must be a version' }),
  build: BuildNumber,
  /** arm, arm64, x86_64, or any (no native code). */
  arch: T.Union([T.Literal('arm'), T.Literal('arm64'), T.Literal('x86_64'), T.Literal('any')], { errorMessage: 'must name an architecture (arm, arm64, x86_64 or any)' }),
  files: T.Array(PackageFile, { minItems: 1, maxItems: MAX_FILES, errorMessage: `must list 1 to ${MAX_FILES} files` }),
});
export type PackageManifest = Omit<Static<typeof PackageManifest>, 'files'> & { readonly files: readonly PackageFile[] };

function bad(message: string): never {
  throw new ApError('BAD_PACKAGE', message);
}

/**
 * The apps of an apps.json (an array, or {apps: [...]}). An entry that is not
 * usable (not an IndexEntry, a folder that cannot be a service name, no valid
 * version) is left out and named in `skipped`, and so is a version that is not
 * an IndexVersion: one bad entry must not hide the store. The supervisor's
 * own entry (folder "manager") is left out silently.
 */
export function parseIndex(raw: unknown): { apps: StoreApp[]; skipped: string[] } {
  const list = Array.isArray(raw) ? raw : Array.isArray((raw as { apps?: unknown })?.apps) ? (raw as { apps: unknown[] }).apps : null;
  if (!list) throw new ApError('BAD_STORE', 'the store index (apps.json) is not a list of apps');
  const apps: StoreApp[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of list.entries()) {
    const e = fits(IndexEntry, entry) ? entry : null;
    // The supervisor's own package (src/selfupdate) is not an app, and not a mistake of the store either.
    if (e?.folder === 'manager') continue;
    const versions = (e?.versions ?? [])
      .filter((v) => fits(IndexVersion, v))
      .map(({ id, build, label }) => ({ id: (id || build).slice(0, 50), build, label: (label || id || build).slice(0, 100) }))
      .sort((a, b) => Number(b.build) - Number(a.build));
    // A folder that cannot be a service (bad syntax, or a reserved name such as root or postgres) is skipped.
    if (!e || !isServiceName(e.folder) || versions.length === 0 || seen.has(e.id)) {
      const id = (entry as { id?: unknown } | null)?.id;
      skipped.push(typeof id === 'string' && id ? id.slice(0, 100) : `entry ${i}`);
      continue;
    }
    seen.add(e.id);
    const id = e.id.slice(0, 100);
    apps.push({
      id,
      folder: e.folder,
      binary: e.binary?.slice(0, 100) || e.folder,
      title: e.title?.slice(0, 200) || id,
      manufacturer: e.manufacturer?.slice(0, 200) ?? '',
      description: e.description?.slice(0, 2000) ?? '',
      versions,
    });
  }
  return { apps, skipped };
}

/** Parses and checks a package manifest's bytes; BAD_PACKAGE naming what is wrong. */
export function parsePackageManifest(bytes: Uint8Array, options: { readonly service?: boolean } = {}): PackageManifest {
  const fileName = (f: unknown, i: number) => {
    const path = (f as { path?: unknown } | null)?.path;
    return typeof path === 'string' ? `package file ${path}` : `package file ${i}`;
  };
  const m = parseSigned(bytes, PackageManifest, 'the package manifest', bad, fileName);
  if (options.service !== false) checkServiceName(m.name);
  const seen = new Set<string>();
  let total = 0;
  const files = m.files.map((file) => {
    const path = file.path;
    // Relative, plain segments: nothing can land outside the package's folder.
    if (!path.split('/').every((s) => SEGMENT.test(s) && s !== '..' && s !== '.')) bad(`package file ${JSON.stringify(path)} is not a plain relative path`);
    if (seen.has(path)) bad(`package file ${path} is listed twice`);
    seen.add(path);
    total += file.size;
    return { path, size: file.size, sha256: file.sha256, executable: file.executable === true };
  });
  // A file and a folder of the same name cannot both be.
  for (const path of seen) {
    for (let at = path.indexOf('/'); at > 0; at = path.indexOf('/', at + 1)) if (seen.has(path.slice(0, at))) bad(`package file ${path.slice(0, at)} is also a folder`);
  }
  if (total > MAX_PACKAGE) bad(`the package is ${total} bytes (at most ${MAX_PACKAGE})`);
  if (!seen.has('app.json')) bad('the package has no app.json at its top');
  return { format: 1, name: m.name, version: m.version, build: m.build, arch: m.arch, files };
}

/** The store's name for this machine's architecture. */
export function storeArch(boardArch: string, nodeArch = process.arch): string {
  if (boardArch !== 'any') return boardArch;
  return nodeArch === 'x64' ? 'x86_64' : nodeArch === 'arm64' ? 'arm64' : nodeArch === 'arm' ? 'arm' : nodeArch;
}

export interface AppStoreOptions {
  readonly storeUrl: () => Promise<string>;
  readonly keysDir: string;
  /** The store's architecture name for this box. */
  readonly arch: string;
  /** Where packages are put together before the install (p2). */
  readonly workDir: string;
  readonly jobs: Jobs;
  /** The ordinary install; `force` admits it even though the memory budget says it does not fit (the warning is told to `onWarning`); `waitReady` waits until the service reports ready. */
  readonly install: (dir: string, how: { readonly force: boolean; readonly waitReady?: boolean; readonly onWarning: (text: string) => void }) => Promise<Manifest>;
  /** The installed version of a service, or null. */
  readonly installed: (name: string) => { version: string; label: string } | null;
}

export class AppStore {
  constructor(private readonly options: AppStoreOptions) {}

  /** The store's apps, each with what is installed of it. */
  async list(): Promise<StoreList> {
    const store = await this.store();
    const { apps, skipped } = await this.index(store);
    return { store, arch: this.options.arch, apps: apps.map((a) => ({ ...a, installed: this.options.installed(a.folder) })), skipped };
  }

  /** The store's app `id`; UNKNOWN_APP when its index has none. */
  async app(id: string): Promise<StoreApp> {
    return this.find(await this.store(), id);
  }

  /** Installs app `id` (its newest build, or `build`) as a job. */
  startInstall(id: string, build?: string, force = false): JobView {
    if (build !== undefined && !BUILD.test(build)) throw new InvalidField('build', `"${build.slice(0, 20)}" is not a build number`);
    if (this.options.jobs.running('install', id)) throw new ApError('CONFLICT', `${id} is being installed already`);
    return this.options.jobs.start('install', id, `installing ${id} from the App Store`, (job) => this.install(id, build, job, { force }));
  }

  /** Installs app `id` (its newest build, or `build`) within `job` (the installer's jobs too); answers what was installed. */
  async install(id: string, build: string | undefined, job: JobControl, how: { readonly force: boolean; readonly waitReady?: boolean }): Promise<string> {
    const store = await this.store();
    const app = await this.find(store, id);
    const version = build === undefined ? app.versions[0]! : app.versions.find((v) => v.build === build);
    if (!version) throw new ApError('NOT_FOUND', `the App Store has no build ${build} of ${id}`);
    let warning = '';
    const manifest = await this.fetchPackage(`${store}/${version.build}/${this.options.arch}/${app.folder}`, app, version, job, { ...how, onWarning: (text) => (warning = `; ${text}`) });
    return `installed ${manifest.name} ${manifest.version} (build ${version.build}) from the App Store${warning}`;
  }

  private async find(store: string, id: string): Promise<StoreApp> {
    const app = (await this.index(store)).apps.find((a) => a.id === id);
    if (!app) throw new ApError('UNKNOWN_APP', `the App Store has no app ${id}`);
    return app;
  }

  private async fetchPackage(base: string, app: StoreApp, version: StoreVersion, job: JobControl, how: Parameters<AppStoreOptions['install']>[1]): Promise<Manifest> {
    job.progress(0, null, 'checking the package');
    const manifest = await fetchCheckedManifest({ base, name: app.folder, what: app.id, build: version.build, arch: this.options.arch, keysDir: this.options.keysDir });
    const dir = join(this.options.workDir, `store-${manifest.name}-${randomBytes(4).toString('hex')}`);
    try {
      await downloadPackage(base, manifest, dir, job);
      const service = await readManifest(dir);
      if (service.name !== manifest.name) bad(`the package's app.json names ${service.name}, not ${manifest.name}`);
      // Its label is the build: what the Manager shows installed and compares with the store.
      if (service.label !== manifest.build) bad(`the package's app.json has label ${service.label}, not its build ${manifest.build}`);
      const total = manifest.files.reduce((sum, f) => sum + f.size, 0);
      job.progress(total, total, 'installing');
      return await this.options.install(dir, how);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private async index(store: string): Promise<{ apps: StoreApp[]; skipped: string[] }> {
    const bytes = await fetchLimited(`${store}/apps.json`, MAX_INDEX);
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ApError('BAD_STORE', `${store}/apps.json is not JSON`);
    }
    return parseIndex(raw);
  }

  private async store(): Promise<string> {
    const url = (await this.options.storeUrl()).replace(/\/+$/, '');
    if (!url) throw new ApError('NO_STORE', 'set the App Store URL first (Settings → General, setting appStoreUrl)');
    return url;
  }
}

/** Where a package is and what the store's index says it is. */
export interface PackageSource {
  /** The package's folder in the store: <store>/<build>/<arch>/<folder>. */
  readonly base: string;
  /** Its folder (the manifest's name). */
  readonly name: string;
  /** How messages name it (the app's id). */
  readonly what: string;
  readonly build: string;
  /** This box's architecture (an "any" package fits every box). */
  readonly arch: string;
  readonly keysDir: string;
}

/**
 * A package's manifest, fetched with its signature and checked (a trusted
 * key, then name, build and architecture against the index) before anything
 * is written. `service: false` for the supervisor's own package, whose name
 * is reserved for it.
 */
export async function fetchCheckedManifest(src: PackageSource, options: { readonly service?: boolean } = {}): Promise<PackageManifest> {
  const { base, what, build, arch } = src;
  const manifestBytes = await fetchLimited(`${base}/manifest.json`, MAX_MANIFEST, 'BAD_PACKAGE').catch((err: ApError) => {
    if (err.code === 'NOT_FOUND') throw new ApError('NOT_FOUND', `the App Store has no package of ${what} build ${build} for ${arch}`);
    throw err;
  });
  const signature = (await fetchLimited(`${base}/manifest.sig`, 4096, 'BAD_PACKAGE').catch((err: ApError) => {
    throw new ApError('BAD_PACKAGE', `${what} build ${build} for ${arch} is not signed (${err.message})`);
  })).toString('utf8');
  const keys = await loadTrustedKeys(src.keysDir);
  if (keys.length === 0) throw new ApError('NO_TRUSTED_KEYS', `no trusted keys in ${src.keysDir}: refusing every package`);
  if (!(await verifyWithAny(manifestBytes, signature, keys))) throw new ApError('BAD_PACKAGE', `the signature of ${what} build ${build} does not verify with a trusted key`);
  const manifest = parsePackageManifest(manifestBytes, options);
  if (manifest.name !== src.name) bad(`the package says it is ${manifest.name}, the store says ${src.name}`);
  if (manifest.build !== build) bad(`the package says it is build ${manifest.build}, the store says ${build}`);
  if (manifest.arch !== 'any' && manifest.arch !== arch) bad(`the package is for ${manifest.arch}, this box is ${arch}`);
  return manifest;
}

/** Downloads the files of a checked `manifest` from `base` into the new folder `dir`, each hashed as it arrives; BAD_PACKAGE on any difference (the caller removes `dir`). */
export async function downloadPackage(base: string, manifest: PackageManifest, dir: string, job: JobControl): Promise<void> {
  await mkdir(dir);
  const total = manifest.files.reduce((sum, f) => sum + f.size, 0);
  let before = 0;
  for (const file of manifest.files) {
    job.progress(before, total, `downloading ${file.path}`);
    await download(`${base}/${file.path.split('/').map(encodeURIComponent).join('/')}`, join(dir, file.path), file, (bytes) => job.progress(before + bytes, total, `downloading ${file.path}`));
    before += file.size;
  }
}

/** One file of a package, hashed as it arrives; refused (and removed by the caller's cleanup) unless size and SHA-256 match. */
async function download(url: string, path: string, file: PackageFile, onBytes: (bytes: number) => void): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const hash = createHash('sha256');
  const out = await open(path, 'wx', file.executable ? 0o755 : 0o644);
  let size = 0;
  try {
    for await (const chunk of fetchStream(url)) {
      size += chunk.length;
      if (size > file.size) bad(`${file.path} is larger than the manifest says (${file.size} bytes)`);
      hash.update(chunk);
      await out.write(chunk);
      onBytes(size);
    }
    await out.sync();
  } finally {
    await out.close();
  }
  if (size !== file.size) bad(`${file.path} is ${size} bytes, the manifest says ${file.size}`);
  if (hash.digest('hex') !== file.sha256) bad(`${file.path} does not match its SHA-256 in the signed manifest`);
  // The umask may have taken bits off.
  await chmod(path, file.executable ? 0o755 : 0o644);
}

/** The App Store in the admin API. */
export function storeRoutes(store: AppStore): ApiRoute[] {
  return [
    {
      method: 'GET',
      pattern: '/store/apps',
      summary: "the App Store's apps (apps.json at the App Store URL), newest build first, each with the version installed here",
      response: StoreList,
      handler: () => store.list(),
    },
    {
      method: 'POST',
      pattern: '/store/apps/{id}/install',
      summary: 'install or update an app from the App Store ({"build"?}: default the newest; {"force": true} installs it even though the memory budget says it does not fit); signed packages only; a job',
      status: 202,
      body: T.Object({
        build: T.Optional(T.String({ description: 'a build number (default: the newest)' })),
        force: T.Optional(T.Boolean({ description: 'install even though memory is short (with a warning)' })),
      }),
      response: JobView,
      errors: ['NO_STORE', 'NO_TRUSTED_KEYS', 'BAD_STORE', 'STORE_UNAVAILABLE', 'DOWNLOAD_FAILED'],
      handler: ({ params, body }) => {
        const { build, force } = objectBody(body);
        if (build !== undefined && typeof build !== 'string') throw new InvalidField('build', 'expected a build number as a string');
        return store.startInstall(params.id!, build, force === true);
      },
    },
  ];
}
