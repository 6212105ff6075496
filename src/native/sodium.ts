// libsodium, loaded only when needed and kept out of the main bundle: each
// flavour carries its WebAssembly as a large base64 literal that every start
// would otherwise parse and hold (measured: +3.5 MB RssAnon idle). The build
// writes them beside dist/ap.js as sodium.js and sodium-sumo.js; run from the
// sources (tests), the npm packages are used.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Sodium = typeof import('libsodium-wrappers');
type SodiumSumo = typeof import('libsodium-wrappers-sumo');

async function load<T>(file: string, load: () => Promise<unknown>): Promise<T> {
  const beside = new URL(`./${file}`, import.meta.url);
  const module = (existsSync(fileURLToPath(beside)) ? await import(beside.href) : await load()) as { default?: T } & T;
  const lib = (module.default ?? module) as T & { ready: Promise<void> };
  await lib.ready;
  return lib;
}

let sodium: Promise<Sodium> | null = null;
let sumo: Promise<SodiumSumo> | null = null;

/** ed25519 (image signatures). */
export function loadSodium(): Promise<Sodium> {
  sodium ??= load<Sodium>('sodium.js', () => import('libsodium-wrappers'));
  return sodium;
}

/** With crypto_pwhash (the Manager password). */
export function loadSodiumSumo(): Promise<SodiumSumo> {
  sumo ??= load<SodiumSumo>('sodium-sumo.js', () => import('libsodium-wrappers-sumo'));
  return sumo;
}
