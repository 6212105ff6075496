// app.json: what an app-service package says about itself. Validated whole;
// the first bad field is named in the error and nothing is installed.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { ApError } from '../errors';
import { checkServiceName } from '../names';

export interface Manifest {
  /** Service name: folder under mnt/sda2/apps, log folder, Linux user. */
  readonly name: string;
  readonly version: string;
  /** The vendor's build label, e.g. "130004". */
  readonly label: string;
  /** argv of the service, relative to its folder; a leading "node" means this supervisor's Node.js. */
  readonly entry: readonly string[];
  /** Folder of static web content inside the package, or null. */
  readonly web: string | null;
  /** Whether instance WebSocket endpoints require the PBX login (AppWebsocket). */
  readonly pbxLogin: boolean;
}

export const MANIFEST_FILE = 'app.json';

export class ManifestError extends ApError {
  constructor(message: string) {
    super('MANIFEST_INVALID', message);
  }
}

/** Reads and validates `<dir>/app.json`. */
export async function readManifest(dir: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (err) {
    throw new ManifestError(`${dir} has no readable ${MANIFEST_FILE}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`${join(dir, MANIFEST_FILE)} is not valid JSON: ${(err as Error).message}`);
  }
  return validateManifest(raw);
}

/** Checks a parsed app.json. */
export function validateManifest(raw: unknown): Manifest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ManifestError('app.json must hold a JSON object');
  const m = raw as Record<string, unknown>;
  const bad = (field: string, want: string): never => {
    throw new ManifestError(`app.json: "${field}" must be ${want}`);
  };
  const known = new Set(['name', 'version', 'label', 'entry', 'web', 'pbxLogin', 'title', 'manufacturer', 'description']);
  for (const key of Object.keys(m)) if (!known.has(key)) bad(key, `one of the known fields (${[...known].join(', ')})`);
  try {
    checkServiceName(m.name);
  } catch (err) {
    if ((err as ApError).code === 'SERVICE_NAME_RESERVED') throw err;
    bad('name', 'lowercase letters, digits, _ or -, starting with a letter, at most 31 characters');
  }
  if (typeof m.version !== 'string' || !/^[0-9A-Za-z.+-]{1,32}$/.test(m.version)) bad('version', 'a version such as 1.2.3');
  if (m.label !== undefined && (typeof m.label !== 'string' || !/^[0-9A-Za-z.-]{1,32}$/.test(m.label))) bad('label', 'a build label such as 130004');
  if (!Array.isArray(m.entry) || m.entry.length === 0 || !m.entry.every((a) => typeof a === 'string' && a.length > 0 && !a.includes('\0'))) {
    bad('entry', 'a non-empty array of strings (the command and its arguments)');
  }
  const program = (m.entry as string[])[0]!;
  if (program !== 'node' && !inside(program)) bad('entry', 'a program inside the package folder, or "node"');
  if (m.web !== undefined && m.web !== null && (typeof m.web !== 'string' || !inside(m.web))) bad('web', 'a folder inside the package');
  if (m.pbxLogin !== undefined && typeof m.pbxLogin !== 'boolean') bad('pbxLogin', 'true or false');
  return Object.freeze({
    name: m.name as string,
    version: m.version as string,
    label: (m.label as string | undefined) ?? (m.version as string),
    entry: Object.freeze([...(m.entry as string[])]),
    web: (m.web as string | undefined | null) ?? null,
    pbxLogin: (m.pbxLogin as boolean | undefined) ?? true,
  });
}

/** True for a relative path that stays inside its folder. */
function inside(path: string): boolean {
  if (isAbsolute(path)) return false;
  const clean = normalize(path);
  return clean !== '..' && !clean.startsWith('../') && clean !== '.';
}

/** Node options after which the next argument is code, not a script: such an entry names no file. */
const NODE_CODE_OPTIONS = new Set(['-e', '--eval', '-p', '--print']);

/**
 * Checks that the program `manifest.entry` starts is in the package `dir`: the
 * script after `node` (unless the entry runs code with -e), or the program
 * itself. An install refuses a package without it (ENTRY_MISSING), since it
 * could only crash.
 */
export async function checkEntry(dir: string, manifest: Manifest): Promise<void> {
  const [program, ...args] = manifest.entry;
  let file = program!;
  if (program === 'node') {
    const script = args.find((a) => !a.startsWith('-') || NODE_CODE_OPTIONS.has(a));
    if (script === undefined || NODE_CODE_OPTIONS.has(script)) return;
    if (!inside(script)) throw new ManifestError(`app.json: "entry" runs ${script}, which is not inside the package folder`);
    file = script;
  }
  const info = await stat(join(dir, file)).catch(() => null);
  const entry = JSON.stringify(manifest.entry);
  if (!info?.isFile()) throw new ApError('ENTRY_MISSING', `app.json's entry ${entry} runs ${file}, which is not in ${dir}: nothing was installed (a TypeScript service must be built to JavaScript first)`);
  if (program !== 'node' && (info.mode & 0o111) === 0) throw new ApError('ENTRY_MISSING', `app.json's entry ${entry} runs ${file}, which is not executable: nothing was installed`);
}
