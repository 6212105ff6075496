// The installed services and the packages in the manager database brought
// together: the database is what the box should run (a restored Manager
// backup, a new box, a standby), so a package stored there and not installed,
// or installed in another build, is installed from it; an installed service
// the database lacks (a box from before it stored packages) is written in.
// Nothing is removed, except on a standby (`remove`): there the database is
// the primary's, and a service it lacks was uninstalled there. Each install goes through the ordinary one, which swaps
// folders atomically; each store is one transaction: a power cut leaves the
// previous state or the new one, and the next start finishes the work.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sql } from 'postgres';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';
import { readManifest } from '../services';
import { readPackage, storedPackages, storePackage, type PackageIdentity, type StoredPackage } from './store';

/** A step that brings an installed service and its stored package together. */
export type Step =
  | { readonly kind: 'install'; readonly service: string; readonly version: string; readonly label: string; readonly installed: PackageIdentity | null }
  | { readonly kind: 'store'; readonly service: string; readonly version: string; readonly label: string };

/** What to do, from the stored packages and the services installed (loaded from their folders). */
export function plan(stored: readonly StoredPackage[], installed: readonly PackageIdentity[]): Step[] {
  const byName = new Map(installed.map((i) => [i.name, i]));
  const steps: Step[] = [];
  for (const pkg of stored) {
    const here = byName.get(pkg.service) ?? null;
    if (here && here.label === pkg.label && here.version === pkg.version) continue;
    steps.push({ kind: 'install', service: pkg.service, version: pkg.version, label: pkg.label, installed: here });
  }
  const known = new Set(stored.map((p) => p.service));
  for (const here of installed) {
    if (!known.has(here.name)) steps.push({ kind: 'store', service: here.name, version: here.version, label: here.label });
  }
  return steps;
}

export interface ReconcileOptions {
  readonly sql: Sql;
  /** mnt/sda2/apps: an installed service's folder is <apps>/<name>. */
  readonly apps: string;
  /** Where packages are put together before their install, beside apps/ (p2; its package-* leftovers are removed at start). */
  readonly scratch: string;
  /** The largest package (the store's MAX_PACKAGE). */
  readonly maxBytes: number;
  readonly log: Logger;
  /** The services installed now. */
  readonly installed: () => readonly PackageIdentity[];
  /** A service being uninstalled: its stored package is about to go and must not install it again. */
  readonly ignore?: (service: string) => boolean;
  /** The ordinary install of a folder, told that its package is in the database already; answers what it installed. */
  readonly install: (dir: string) => Promise<PackageIdentity>;
  /**
   * A standby's database is its primary's, read-only: an installed service
   * that it lacks was uninstalled there, and goes here too (instead of being
   * stored, which a standby cannot).
   */
  readonly remove?: (service: string) => Promise<void>;
}

export interface ReconcileResult {
  readonly installed: readonly string[];
  readonly stored: readonly string[];
  readonly removed: readonly string[];
  readonly failed: readonly string[];
}

/** Plans and carries out the steps, each on its own: one that fails is logged and the others still run. */
export async function reconcilePackages(options: ReconcileOptions): Promise<ReconcileResult> {
  const { log } = options;
  const stored = (await storedPackages(options.sql)).filter((p) => !options.ignore?.(p.service));
  const steps = plan(stored, options.installed());
  const result = { installed: [] as string[], stored: [] as string[], removed: [] as string[], failed: [] as string[] };
  for (const step of steps) {
    try {
      if (step.kind === 'install') {
        await installStored(step, options);
        result.installed.push(step.service);
        const was = step.installed ? ` (${step.installed.version}, build ${step.installed.label} was installed)` : '';
        log.info(`installed ${step.service} ${step.version} (build ${step.label}) from the manager database${was}`);
      } else if (options.remove) {
        await options.remove(step.service);
        result.removed.push(step.service);
        log.info(`removed ${step.service} ${step.version}: its package left the manager database (uninstalled on the primary)`);
      } else {
        const stored = await storePackage(options.sql, join(options.apps, step.service), { name: step.service, version: step.version, label: step.label }, { maxBytes: options.maxBytes });
        result.stored.push(step.service);
        log.info(`stored the installed ${step.service} ${step.version} (build ${step.label}; ${stored.files} entries, ${stored.bytes} bytes) in the manager database`);
      }
    } catch (err) {
      result.failed.push(step.service);
      const what = step.kind === 'install' ? `installing ${step.service} ${step.version} from the manager database` : options.remove ? `removing ${step.service} (its package left the manager database)` : `storing the installed ${step.service} in the manager database`;
      log.error(`${what} failed: ${describe(err)}`);
    }
  }
  return result;
}

async function installStored(step: Extract<Step, { kind: 'install' }>, options: ReconcileOptions): Promise<void> {
  const dir = join(options.scratch, `package-${step.service}-${randomBytes(4).toString('hex')}`);
  try {
    const pkg = await readPackage(options.sql, step.service, dir, { maxBytes: options.maxBytes });
    if (!pkg) return; // removed meanwhile
    // The app.json decides the name an install takes: the rows of one service must not install another.
    const { name } = await readManifest(dir);
    if (name !== step.service) throw new ApError('INSTALL_FAILED', `the stored package of ${step.service} holds the app.json of ${JSON.stringify(name)}`);
    await options.install(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
