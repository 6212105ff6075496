// Where the cgroup controllers are, from /proc/self/mountinfo and
// /proc/self/cgroup: pure functions over their text, so every layout a box may
// have (v2 alone, v1 with an empty v2 beside it, v1 with cpu and cpuacct
// mounted together) is a fixture in the tests.

/** One cgroup filesystem mount. */
export interface CgroupMount {
  /** Where it is mounted. */
  readonly at: string;
  /** The group of its hierarchy shown at `at` (mountinfo's fourth field; "/" unless bind-mounted or namespaced). */
  readonly root: string;
  readonly version: 1 | 2;
  /** v1: the controllers of this hierarchy (its super options, e.g. ["cpu", "cpuacct"]); v2: empty. */
  readonly controllers: readonly string[];
}

/** The controllers we use. cpuacct only counts CPU time on v1. */
export const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

/** mountinfo escapes blanks and backslashes in paths as octal. */
const unescape = (path: string) => path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The cgroup and cgroup2 mounts listed in a mountinfo text. */
export function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional fields…] - fstype source superoptions
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const before = line.slice(0, dash).split(' ');
    const [fsType, , superOptions = ''] = line.slice(dash + 3).split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const [root, at] = [before[3], before[4]];
    if (root === undefined || at === undefined) continue;
    const controllers = fsType === 'cgroup' ? superOptions.split(',').filter((o) => (V1_CONTROLLERS as readonly string[]).includes(o)) : [];
    out.push({ at: unescape(at), root: unescape(root), version: fsType === 'cgroup2' ? 2 : 1, controllers });
  }
  return out;
}

/** A process's groups from /proc/<pid>/cgroup: v2's path (line "0::…") and each v1 controller's. */
export interface ProcessGroups {
  readonly unified: string | null;
  readonly v1: ReadonlyMap<string, string>;
}

export function parseProcCgroup(text: string): ProcessGroups {
  let unified: string | null = null;
  const v1 = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, id, list, path] = match as unknown as [string, string, string, string];
    if (id === '0' && list === '') unified = path;
    else for (const controller of list.split(',')) if (controller) v1.set(controller, path);
  }
  return { unified, v1 };
}

/** The folder of group `path` in a mount of its hierarchy whose root is `mount.root`, or null when the mount does not show it. */
export function folderOf(mount: CgroupMount, path: string): string | null {
  const root = mount.root === '/' ? '' : mount.root;
  if (path !== root && !path.startsWith(`${root}/`) && root !== '') return null;
  const rest = path.slice(root.length).replace(/^\/+/, '');
  return rest === '' ? mount.at : `${mount.at.replace(/\/+$/, '')}/${rest}`;
}

/** Where our own groups are to be made: the folders of the supervisor's own group. */
export type Layout =
  | { readonly version: 2; readonly own: string; readonly mountRoot: boolean }
  | { readonly version: 1; readonly own: Readonly<Record<V1Controller, string>> }
  | { readonly version: null; readonly reason: string };

/**
 * Which hierarchy to use. v2 counts only where its `cgroup.controllers`
 * (read through `controllersOf`) has memory, cpu and pids: a box running v1
 * may mount an empty v2 beside it (/sys/fs/cgroup/unified). Otherwise v1,
 * which needs memory, cpu, cpuacct and pids each mounted.
 */
export function chooseLayout(mounts: readonly CgroupMount[], self: ProcessGroups, controllersOf: (folder: string) => readonly string[] | null): Layout {
  const problems: string[] = [];
  for (const mount of mounts.filter((m) => m.version === 2)) {
    if (self.unified === null) continue;
    const own = folderOf(mount, self.unified);
    if (own === null) continue;
    const rootControllers = controllersOf(mount.at) ?? [];
    const missing = ['memory', 'cpu', 'pids'].filter((c) => !rootControllers.includes(c));
    if (missing.length === 0) return { version: 2, own, mountRoot: own === mount.at };
    problems.push(`the cgroup2 at ${mount.at} lacks ${missing.join(', ')}`);
  }
  const own: Partial<Record<V1Controller, string>> = {};
  for (const controller of V1_CONTROLLERS) {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    const path = self.v1.get(controller);
    const folder = mount && path !== undefined ? folderOf(mount, path) : null;
    if (folder !== null) own[controller] = folder;
  }
  const lacking = V1_CONTROLLERS.filter((c) => own[c] === undefined);
  if (lacking.length === 0) return { version: 1, own: own as Record<V1Controller, string> };
  if (lacking.length < V1_CONTROLLERS.length) problems.push(`cgroup v1 lacks ${lacking.join(', ')}`);
  if (problems.length === 0) problems.push('no cgroup filesystem is mounted');
  return { version: null, reason: problems.join('; ') };
}
