// App services: the packages in mnt/sda2/apps/<name>/ (each with its app.json)
// and one supervised child process per service. Installing copies a folder in
// whole or not at all; every installed service is kept running, restarted with
// backoff when it dies, and marked failed when it keeps dying.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApError } from '../errors';
import { ensureDir, fsyncDir, fsyncTree } from '../fsutil';
import type { Logger } from '../log';
import type { Paths } from '../paths';
import type { WebContent, WebFile } from '../webserver';
import { DEFAULT_POLICY, type Policy, type State } from './machine';
import { readManifest, type Manifest } from './manifest';
import { ServiceProcess, type ServiceStatus } from './process';
import { ensureServiceAccount } from './users';

export { DEFAULT_POLICY, INITIAL, step, type Action, type Event, type Machine, type Policy, type State } from './machine';
export { MANIFEST_FILE, readManifest, validateManifest, ManifestError, type Manifest } from './manifest';
export { ServiceProcess, type ServiceStatus, type StreamHandler } from './process';

export interface ServicesOptions {
  readonly paths: Paths;
  readonly log: Logger;
  readonly policy?: Policy;
  readonly logMaxBytes: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly maxPayload: number;
  /** Node.js flags for services whose entry is "node". */
  readonly nodeFlags: readonly string[];
  /** Run each service as a Linux user named after it (only when we are root). */
  readonly ownUser: boolean;
  /** Instances of a service, sent to it as instance.start when it is ready. */
  readonly instancesOf: (service: string) => readonly Record<string, unknown>[];
}

export interface Services {
  get(name: string): ServiceProcess | undefined;
  /** Calls `listener` on every state change of any service. */
  onState(listener: (service: string, state: State) => void): void;
  list(): ServiceStatus[];
  /** Copies the package folder `dir` in (replacing an older version) and starts it. */
  install(dir: string): Promise<Manifest>;
  start(name: string): void;
  stop(name: string): Promise<void>;
  /** Stops every service, in parallel. */
  stopAll(): Promise<void>;
}

/** Loads the installed services and starts them. */
export async function startServices(options: ServicesOptions): Promise<Services> {
  const { paths, log } = options;
  const running = new Map<string, ServiceProcess>();
  const listeners: ((service: string, state: State) => void)[] = [];
  const wrapper = deathSignalWrapper();
  if (!wrapper) log.warn('setpriv with --pdeathsig is missing: services outlive a killed supervisor unless they watch their channel');

  const create = async (manifest: Manifest): Promise<ServiceProcess> => {
    const logDir = join(paths.appLogs, manifest.name);
    await ensureDir(logDir);
    const web = manifest.web ? await indexWebFolder(join(paths.apps, manifest.name, manifest.web), manifest.label, log) : null;
    const account = options.ownUser && process.getuid?.() === 0 ? await ensureServiceAccount(manifest.name, join(paths.apps, manifest.name)) : null;
    return new ServiceProcess({
      manifest,
      dir: join(paths.apps, manifest.name),
      logDir,
      crashDir: join(paths.coreDumps, manifest.name),
      policy: options.policy ?? DEFAULT_POLICY,
      logMaxBytes: options.logMaxBytes,
      startTimeoutMs: options.startTimeoutMs,
      stopTimeoutMs: options.stopTimeoutMs,
      maxPayload: options.maxPayload,
      account,
      deathSignalWrapper: wrapper,
      nodeFlags: options.nodeFlags,
      instances: () => options.instancesOf(manifest.name),
      web,
      log: log.child(`service ${manifest.name}`),
      onState: (state) => {
        for (const listener of listeners) listener(manifest.name, state);
      },
    });
  };

  await recoverInterruptedInstalls(paths.apps, log);
  for (const entry of await readdir(paths.apps, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    try {
      const manifest = await readManifest(join(paths.apps, entry.name));
      if (manifest.name !== entry.name) throw new ApError('MANIFEST_INVALID', `its app.json names it "${manifest.name}"`);
      const service = await create(manifest);
      running.set(manifest.name, service);
      service.start();
    } catch (err) {
      log.error(`skipping ${join(paths.apps, entry.name)}: ${(err as Error).message}`);
    }
  }

  const need = (name: string): ServiceProcess => {
    const service = running.get(name);
    if (!service) throw new ApError('NOT_FOUND', `no service "${name}" is installed`);
    return service;
  };

  // One install at a time: two of the same service must not interleave their renames.
  let installing: Promise<unknown> = Promise.resolve();
  const install = async (dir: string): Promise<Manifest> => {
    const source = resolve(dir);
    if (!(await stat(source).catch(() => null))?.isDirectory()) throw new ApError('BAD_REQUEST', `${source} is not a folder`);
    if ((source + '/').startsWith(resolve(paths.apps) + '/')) throw new ApError('BAD_REQUEST', `${source} is inside ${paths.apps}`);
    const manifest = await readManifest(source);
    const target = join(paths.apps, manifest.name);
    const staging = join(paths.apps, `.install-${manifest.name}-${randomBytes(4).toString('hex')}`);
    try {
      await cp(source, staging, { recursive: true, errorOnExist: true, force: false, verbatimSymlinks: true });
      await fsyncTree(staging);
      await fsyncDir(paths.apps);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw new ApError('INSTALL_FAILED', `copying ${source} failed; nothing was installed`, { cause: err });
    }
    const old = running.get(manifest.name);
    if (old) await old.stop();
    const retired = join(paths.apps, `.old-${manifest.name}-${randomBytes(4).toString('hex')}`);
    if (await stat(target).catch(() => null)) await rename(target, retired);
    await rename(staging, target);
    await fsyncDir(paths.apps);
    await rm(retired, { recursive: true, force: true });
    const service = await create(manifest);
    running.set(manifest.name, service);
    service.start();
    log.info(`installed ${manifest.name} ${manifest.version} from ${source}`);
    return manifest;
  };

  return {
    get: (name) => running.get(name),
    onState: (listener) => void listeners.push(listener),
    list: () => [...running.values()].map((s) => s.status()),
    install(dir) {
      const next = installing.then(() => install(dir));
      installing = next.catch(() => {});
      return next;
    },
    start: (name) => need(name).start(),
    stop: (name) => need(name).stop(),
    async stopAll() {
      await Promise.all([...running.values()].map((s) => s.stop()));
    },
  };
}

/**
 * An install swaps folders in two renames (`<name>` → `.old-<name>-<id>`, then
 * `.install-<name>-<id>` → `<name>`). After a power cut between them the old
 * version is put back; half-copied and retired folders are removed.
 */
async function recoverInterruptedInstalls(apps: string, log: Logger): Promise<void> {
  const entries = (await readdir(apps, { withFileTypes: true })).filter((e) => e.isDirectory());
  const present = new Set(entries.map((e) => e.name));
  for (const entry of entries) {
    const retired = /^\.old-(.+)-[0-9a-f]{8}$/.exec(entry.name);
    if (retired && !present.has(retired[1]!)) {
      await rename(join(apps, entry.name), join(apps, retired[1]!));
      present.add(retired[1]!);
      log.warn(`an install of ${retired[1]} was interrupted; the previous version is back`);
    } else if (retired || /^\.install-.+-[0-9a-f]{8}$/.test(entry.name)) {
      await rm(join(apps, entry.name), { recursive: true, force: true });
    }
  }
  await fsyncDir(apps);
}

const MAX_WEB_FILES = 10_000;

/** The files of a package's web folder (relative paths, sizes, times), for static serving. */
async function indexWebFolder(root: string, build: string, log: Logger): Promise<WebContent | null> {
  const files = new Map<string, WebFile>();
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (files.size >= MAX_WEB_FILES) return;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path, `${prefix}${entry.name}/`);
      else if (entry.isFile()) {
        const info = await stat(path);
        files.set(`${prefix}${entry.name}`, { size: info.size, mtimeMs: info.mtimeMs });
      }
    }
  };
  try {
    await walk(root, '');
  } catch (err) {
    log.warn(`its web folder ${root} cannot be read: ${(err as Error).message}`);
    return null;
  }
  return { build, root, files };
}

/** `setpriv --pdeathsig KILL --` where util-linux's setpriv offers it: children die with the supervisor. */
function deathSignalWrapper(): string[] | null {
  for (const path of ['/usr/bin/setpriv', '/bin/setpriv']) {
    try {
      const help = execFileSync(path, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 });
      if (help.includes('--pdeathsig')) return [path, '--pdeathsig', 'KILL', '--'];
    } catch {
      // not here, or a build without it
    }
  }
  return null;
}

