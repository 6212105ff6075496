// For end-to-end tests of supervising: services written inline as a node -e
// script, a supervisor with a short restart delay, and `ap ctl` read as JSON.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getBoard } from '../../src/config';
import { createLogger } from '../../src/log';
import { layout } from '../../src/paths';
import { startServices, type Services, type ServicesOptions } from '../../src/services';
import { runAp, runApSync, type Run } from './supervisor';

/** A service folder `<packages>/<name>` whose entry is `node -e <code>`. */
export async function inlineServiceIn(packages: string, name: string, code: string): Promise<string> {
  const folder = join(packages, name);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'app.json'), JSON.stringify({ name, version: '0.0.1', entry: ['node', '-e', code] }));
  return folder;
}

/** `ap serve` on any free ports, no reserve file, services restarted after 100 ms. */
export function serve(root: string, ...extra: string[]): Run {
  return runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--restart-delay', '100', ...extra]);
}

export const ctl = (root: string, ...args: string[]) => runApSync(['ctl', ...args, '--json', '--root', root]);
export type Listed = { name: string; state: string; pid: number | null; reason: string | null };
export const list = (root: string): Listed[] => JSON.parse(ctl(root, 'service', 'list').stdout);
export const stateOf = (root: string, name: string) => list(root).find((s) => s.name === name);

/** SIGTERM, and the supervisor exits 0. */
export async function stop(run: Run): Promise<void> {
  run.child.kill('SIGTERM');
  assert.deepEqual(await run.exited, [0, null]);
}

/**
 * The services subsystem alone (no supervisor) under `root`, its folders made:
 * services run as their own accounts, quiet log, no instances, dev board limits;
 * `options` changes any of these.
 */
export async function servicesIn(root: string, options: Partial<ServicesOptions> = {}): Promise<Services> {
  const paths = layout(root);
  for (const d of [paths.apps, paths.appLogs, paths.coreDumps]) await mkdir(d, { recursive: true });
  return startServices({
    paths,
    log: createLogger({ level: 'error', file: null }),
    logMaxBytes: 1 << 20,
    startTimeoutMs: 30_000,
    stopTimeoutMs: 2000,
    maxPayload: 1 << 20,
    nodeFlags: [],
    ownUser: true,
    instancesOf: () => [],
    serviceLimits: getBoard('dev').serviceLimits,
    instanceCount: () => 0,
    ...options,
  });
}
