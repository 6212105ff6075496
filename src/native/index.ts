// Native addons. The bundle (dist/ap.js) carries them beside itself, since a
// box has no node_modules; from the sources they come from node_modules.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as UWS from 'uWebSockets.js';
import { ApError } from '../errors';

export { loadSodium, loadSodiumSumo } from './sodium';

const require = createRequire(import.meta.url);

/** File name of the uWebSockets.js binary for this platform and Node ABI. */
export function uwsBinaryName(platform = process.platform, arch = process.arch, abi = process.versions.modules): string {
  return `uws_${platform}_${arch}_${abi}.node`;
}

function candidates(file: string, packageName: string, inPackage: string): string[] {
  const found = [join(dirname(fileURLToPath(import.meta.url)), file)];
  try {
    found.push(join(dirname(require.resolve(`${packageName}/package.json`)), inPackage));
  } catch {
    // not installed: only the copy beside the bundle can serve
  }
  return found;
}

let uws: typeof UWS | undefined;

/** uWebSockets.js, native only: we never fall back to its slow JS emulation. */
export function loadUws(): typeof UWS {
  if (uws) return uws;
  const name = uwsBinaryName();
  const paths = candidates(name, 'uWebSockets.js', `binaries/${name}`);
  const path = paths.find((p) => existsSync(p));
  if (!path) {
    throw new ApError('NATIVE_MISSING', `uWebSockets.js has no binary for this platform (${name}); looked in ${paths.join(', ')}`);
  }
  uws = require(path) as typeof UWS;
  return uws;
}

export interface SdNotify {
  ready(pid: number): void;
  stopping(pid: number): void;
  watchdog(): void;
  /** Watchdog interval in ms, 0 when systemd asked for none. */
  watchdogInterval(): number;
  sendState(state: string): void;
}

/** The sd-notify addon, or null where it was not built (it needs libsystemd-dev). */
export function loadSdNotify(): SdNotify | null {
  const path = candidates('notify.node', 'sd-notify', 'build/Release/notify.node').find((p) => existsSync(p));
  if (!path) return null;
  try {
    return require(path) as SdNotify;
  } catch {
    return null;
  }
}
