// app.json: what an app-service package says about itself. Validated whole;
// the first bad field is named in the error and nothing is installed.
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { LIMIT_RANGES, type ServiceLimits } from '../cgroup';
import { ApError } from '../errors';
import { checkServiceName } from '../names';
import { asSentence, problem, T, type Static } from '../schema';

const ENTRY = 'must be a non-empty array of strings (the command and its arguments)';
const KNOWN = ['name', 'version', 'label', 'entry', 'web', 'pbxLogin', 'resources', 'title', 'manufacturer', 'description'];

const limit = (range: readonly [number, number], what: string) =>
  T.Optional(T.Integer({ minimum: range[0], maximum: range[1], errorMessage: `must be an integer from ${range[0]} to ${range[1]} (${what})` }));

/** What a package says it needs (docs/monitoring.md, "Limits per service"); the board's defaults fill what it leaves out. */
export const Resources = T.Object(
  {
    memoryMB: limit(LIMIT_RANGES.memoryMB, 'MB with no instance'),
    instanceMB: limit(LIMIT_RANGES.instanceMB, 'MB more per instance'),
    cpuWeight: limit(LIMIT_RANGES.cpuWeight, 'its CPU share, 100 by default'),
    pids: limit(LIMIT_RANGES.pids, 'processes and threads'),
  },
  { additionalProperties: false, errorMessage: 'must be an object of memoryMB, instanceMB, cpuWeight and pids' },
);

/** app.json as a package holds it; what a field may be beyond its form (a reserved name, a path inside the folder) is checked after. */
export const AppJson = T.Object(
  {
    /** Service name: folder under mnt/sda2/apps, log folder, Linux user. */
    name: T.String({ pattern: '^[a-z][a-z0-9_-]{0,30}$', errorMessage: 'must be lowercase letters, digits, _ or -, starting with a letter, at most 31 characters' }),
    version: T.String({ pattern: '^[0-9A-Za-z.+-]{1,32}$', errorMessage: 'must be a version such as 1.2.3' }),
    /** The vendor's build label, e.g. "130004"; the version when absent. */
    label: T.Optional(T.String({ pattern: '^[0-9A-Za-z.-]{1,32}$', errorMessage: 'must be a build label such as 130004' })),
    entry: T.Array(T.String({ minLength: 1, pattern: '^[^\\u0000]*$', errorMessage: 'must be a non-empty string' }), { minItems: 1, errorMessage: ENTRY }),
    web: T.Optional(T.Union([T.String(), T.Null()], { errorMessage: 'must be a folder inside the package' })),
    pbxLogin: T.Optional(T.Boolean({ errorMessage: 'must be true or false' })),
    resources: T.Optional(Resources),
    // Shown by the vendor's store; not used here, but a package may carry them.
    title: T.Optional(T.String()),
    manufacturer: T.Optional(T.String()),
    description: T.Optional(T.String()),
  },
  { additionalProperties: false, errorMessage: `must hold a JSON object of the known fields (${KNOWN.join(', ')})` },
);
export type AppJson = Static<typeof AppJson>;

/** What the supervisor runs a package by: app.json with its defaults filled in. */
export type Manifest = Readonly<Required<Pick<AppJson, 'name' | 'version' | 'label' | 'pbxLogin'>>> & {
  /** argv of the service, relative to its folder; a leading "node" means this supervisor's Node.js. */
  readonly entry: readonly string[];
  /** Folder of static web content inside the package, or null. */
  readonly web: string | null;
  /** The limits it declares (app.json `resources`); empty when it declares none. */
  readonly resources: Readonly<Partial<ServiceLimits>>;
};

export const MANIFEST_FILE = 'app.json';

export class ManifestError extends ApError {
  constructor(message: string) {
    super('MANIFEST_INVALID', message);
  }
}

/** Reads and validates `<dir>/app.json`. */
export async function readManifest(dir: string): Promise<Manifest> {
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ManifestError(`${dir} has no readable ${MANIFEST_FILE}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return validateManifest(raw, file);
}

/** Checks a parsed app.json; `file` names it in the error. */
export function validateManifest(raw: unknown, file = MANIFEST_FILE): Manifest {
  const bad = (field: string, why: string): never => {
    throw new ManifestError(field === '' ? `${file} ${why}` : `${file}: "${field}" ${why}`);
  };
  const found = problem(AppJson, raw);
  if (found) {
    // An unknown field is named with the ones that are known, so a typo shows itself.
    bad(found.field, found.reason === 'unknown field' ? `is not one of the known fields (${KNOWN.join(', ')})` : asSentence(found.reason));
  }
  const m = raw as AppJson;
  checkServiceName(m.name); // the reserved names (root, postgres, …): SERVICE_NAME_RESERVED
  if (m.entry[0] !== 'node' && !inside(m.entry[0]!)) bad('entry', 'must be a program inside the package folder, or "node"');
  if (typeof m.web === 'string' && !inside(m.web)) bad('web', 'must be a folder inside the package');
  return Object.freeze({
    name: m.name,
    version: m.version,
    label: m.label ?? m.version,
    entry: Object.freeze([...m.entry]),
    web: m.web ?? null,
    pbxLogin: m.pbxLogin ?? true,
    resources: Object.freeze({ ...(m.resources ?? {}) }),
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
