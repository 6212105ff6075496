// The supervisor's own update (docs/update.md, "The supervisor's own update").
// The supervisor is an App Store package of its own: folder "manager", one per
// architecture, the bundle's files and an app.json whose label is the build
// (tools/image/manager-package.mjs). This part checks what the store offers,
// stages a verified build in /apps/manager.new (the folder's .complete
// written last, fsynced) and then stops the supervisor: the respawner's
// `S92manager run` swaps it in and runs it on trial. A build that gets ready
// confirms here (removes /apps/manager.trial); one that never does is
// replaced by S92manager with the previous build, which finds
// /apps/manager.failed here at its start and raises MANAGER_UPDATE_FAILED.
import { readFileSync, realpathSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ApError, InvalidField } from '../errors';
import { fsyncDir, fsyncTree, writeFileAtomic } from '../fsutil';
import type { JobView, Jobs } from '../jobs';
import type { Logger } from '../log';
import { fetchLimited } from '../net';
import { downloadPackage, fetchCheckedManifest } from '../store';
import type { SelfUpdateState } from './views';

export { SelfUpdateState } from './views';
export { selfUpdateRoutes } from './api';

/** The store's folder name and the index entry's folder of the supervisor's package. */
export const PACKAGE = 'manager';
/** Where the rootfs keeps the factory copy (S92manager runs it when p2 has no /apps/manager). */
export const FACTORY_DIR = '/usr/lib/ap/manager';
/** Attempts S92manager gives a new build; the same number is in the script. */
export const TRIAL_ATTEMPTS = 3;

const BUILD = /^\d{1,12}$/;

/** What a bundle says it is: the app.json of its package beside ap.js, or null (a bundle from `npm run build`). */
export function bundlePackage(bundleDir: string): { version: string; build: string } | null {
  try {
    const app = JSON.parse(readFileSync(join(bundleDir, 'app.json'), 'utf8')) as { name?: unknown; version?: unknown; label?: unknown };
    if (app.name !== PACKAGE || typeof app.version !== 'string' || typeof app.label !== 'string' || !BUILD.test(app.label)) return null;
    return { version: app.version, build: app.label };
  } catch {
    return null;
  }
}

export interface SelfUpdateOptions {
  /** p2's apps folder (/apps on a box): manager, manager.new, manager.prev and the markers. */
  readonly apps: string;
  /** The folder of the running ap.js. */
  readonly bundleDir: string;
  /** Started by init's respawn line (S92manager run exports AP_RESPAWNED=1): something starts the new build. */
  readonly respawned: boolean;
  readonly running: { readonly version: string; readonly build: string | null };
  readonly storeUrl: () => Promise<string>;
  readonly keysDir: string;
  readonly arch: string;
  readonly jobs: Jobs;
  readonly log: Logger;
  readonly alarms: {
    raise(source: string, code: string, severity: 'major', text: string): unknown;
    clear(source: string, code: string): void;
  };
  /** Stops the supervisor the ordinary way (apps, database); the respawner starts the staged build. */
  readonly handOver: (why: string) => void;
}

export class SelfUpdate {
  private readonly dir: string;
  private readonly staging: string;
  private readonly trialFile: string;
  private readonly failedFile: string;
  /** What /apps/manager.failed said at the start, until an update is confirmed: `ap ctl status` shows it. */
  failedText: string | null = null;

  constructor(private readonly options: SelfUpdateOptions) {
    this.dir = join(options.apps, PACKAGE);
    this.staging = `${this.dir}.new`;
    this.trialFile = `${this.dir}.trial`;
    this.failedFile = `${this.dir}.failed`;
  }

  /** Why this supervisor cannot update itself, or null. */
  refused(): string | null {
    const { bundleDir, respawned } = this.options;
    const real = (path: string) => {
      try {
        return realpathSync(path);
      } catch {
        return path;
      }
    };
    const here = real(bundleDir);
    if (here !== real(this.dir) && here !== FACTORY_DIR) {
      return `this supervisor runs from ${bundleDir}, not from ${this.dir}: only a box's installed supervisor updates itself (not a development run)`;
    }
    if (!respawned) return 'this supervisor was not started by init\'s respawn line (S92manager run): nothing would start the new build';
    return null;
  }

  /** At the start: an update that S92manager rolled back is an alarm until a later one gets ready. */
  async atStart(): Promise<void> {
    const failed = await this.failed();
    if (failed === null) {
      this.options.alarms.clear('manager', 'MANAGER_UPDATE_FAILED');
      return;
    }
    const text = `supervisor update failed: ${failed}; running build ${this.options.running.build ?? 'unknown'}`;
    this.failedText = failed;
    this.options.log.error(text);
    this.options.alarms.raise('manager', 'MANAGER_UPDATE_FAILED', 'major', text);
  }

  /** At READY: a build on trial keeps its place (S92manager counts no more attempts); manager.prev stays, one step back. */
  async confirm(): Promise<void> {
    if (this.refused() !== null) return;
    const onTrial = await readFile(this.trialFile, 'utf8').catch(() => null);
    if (onTrial === null) return;
    await rm(this.trialFile, { force: true });
    await rm(this.failedFile, { force: true });
    await fsyncDir(this.options.apps);
    this.failedText = null;
    this.options.alarms.clear('manager', 'MANAGER_UPDATE_FAILED');
    this.options.log.info(`supervisor build ${this.options.running.build ?? 'unknown'} is ready: update confirmed (the previous build stays in ${this.dir}.prev)`);
  }

  async state(): Promise<SelfUpdateState> {
    const { version, build } = this.options.running;
    const base = { version, build, refused: this.refused(), failed: await this.failed() };
    try {
      return { ...base, available: (await this.offered(await this.store()))[0] ?? null };
    } catch (err) {
      return { ...base, available: null, error: (err as Error).message };
    }
  }

  /** Checks, then stages build `build` (default the newest) as a job, then hands over. */
  async startUpdate(options: { readonly build?: string; readonly force?: boolean }): Promise<JobView> {
    const { build, force } = options;
    if (build !== undefined && !BUILD.test(build)) throw new InvalidField('build', `"${build.slice(0, 20)}" is not a build number`);
    const refused = this.refused();
    if (refused !== null) throw new ApError('UNSUPPORTED', refused);
    this.checkIdle();
    const store = await this.store();
    const offered = await this.offered(store);
    if (offered.length === 0) throw new ApError('NOT_FOUND', 'the App Store offers no supervisor ("manager") package');
    const wanted = build ?? offered[0]!;
    if (!offered.includes(wanted)) throw new ApError('NOT_FOUND', `the App Store has no build ${wanted} of the supervisor (it has ${offered.join(', ')})`);
    const running = this.options.running.build;
    if (!force && running !== null && BigInt(wanted) <= BigInt(running)) {
      throw new ApError('CONFLICT', `build ${wanted} is ${wanted === running ? 'the one running' : `older than the running ${running}`} (force to install it anyway)`);
    }
    // Again: another request may have started one while the store answered.
    this.checkIdle();
    return this.options.jobs.start('update', PACKAGE, `updating the supervisor to build ${wanted}`, async (job) => {
      job.progress(0, null, 'checking the package');
      const base = `${store}/${wanted}/${this.options.arch}/${PACKAGE}`;
      const manifest = await fetchCheckedManifest({ base, name: PACKAGE, what: 'the supervisor', build: wanted, arch: this.options.arch, keysDir: this.options.keysDir }, { service: false });
      if (!manifest.files.some((f) => f.path === 'ap.js')) throw new ApError('BAD_PACKAGE', `supervisor build ${wanted} has no ap.js`);
      // Whatever an earlier stage left is not this build.
      await rm(this.staging, { recursive: true, force: true });
      try {
        await downloadPackage(base, manifest, this.staging, job);
        const own = bundlePackage(this.staging);
        if (own?.build !== wanted) throw new ApError('BAD_PACKAGE', `supervisor build ${wanted}'s app.json does not name it manager with label ${wanted}`);
        job.progress(1, 1, 'writing it to disk');
        await fsyncTree(this.staging);
        // Last: S92manager takes only a folder with this file and removes one without it.
        await writeFileAtomic(join(this.staging, '.complete'), `${wanted}\n`);
        await fsyncDir(this.options.apps);
      } catch (err) {
        await rm(this.staging, { recursive: true, force: true });
        throw err;
      }
      this.options.log.info(`supervisor build ${wanted} staged in ${this.staging}; stopping to hand over to it`);
      // After this job has ended (and is saved as succeeded): the stop waits for running jobs.
      setImmediate(() => this.options.handOver(`handing over to supervisor build ${wanted}`));
      return `supervisor build ${wanted} is staged; the supervisor restarts into it (app WebSockets drop once)`;
    });
  }

  /** No update of the supervisor under way, and no other job the hand-over would cut short (a backup, a restore). */
  private checkIdle(): void {
    if (this.options.jobs.running('update', PACKAGE)) throw new ApError('CONFLICT', 'the supervisor is being updated already');
    const busy = this.options.jobs.list().find((j) => j.state === 'running');
    if (busy) throw new ApError('CONFLICT', `job ${busy.id} (${busy.kind} ${busy.target}) is running; update the supervisor once it has ended`);
  }

  private async failed(): Promise<string | null> {
    const text = await readFile(this.failedFile, 'utf8').catch(() => null);
    return text === null ? null : text.trim().slice(0, 500) || 'a new build did not get ready';
  }

  /** The builds of the supervisor's package in the store's apps.json, newest first. */
  private async offered(store: string): Promise<string[]> {
    const bytes = await fetchLimited(`${store}/apps.json`, 4 * 1024 * 1024);
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ApError('BAD_STORE', `${store}/apps.json is not JSON`);
    }
    // The store's index lists apps; the supervisor's entry is the one whose folder is "manager" (no app may use that name).
    const list = Array.isArray(raw) ? raw : (raw as { apps?: unknown } | null)?.apps;
    const entry = Array.isArray(list) ? list.find((a) => (a as { folder?: unknown } | null)?.folder === PACKAGE) : undefined;
    const versions = (entry as { versions?: unknown } | undefined)?.versions;
    if (!Array.isArray(versions)) return [];
    const builds = versions.map((v) => (v as { build?: unknown } | null)?.build).filter((b): b is string => typeof b === 'string' && BUILD.test(b));
    return [...new Set(builds)].sort((a, b) => (BigInt(b) > BigInt(a) ? 1 : BigInt(b) < BigInt(a) ? -1 : 0));
  }

  private async store(): Promise<string> {
    const url = (await this.options.storeUrl()).replace(/\/+$/, '');
    if (!url) throw new ApError('NO_STORE', 'set the App Store URL first (Settings → General, setting appStoreUrl)');
    return url;
  }
}
