// What some tests need beyond Node.js and PostgreSQL: each is optional on a
// developer's machine, where a test that needs a missing one skips and says
// why (t.skip / { skip }). CI (.ci/run) installs every one and fails on any
// skip. AP_TEST_HIDE=sd-notify,chromium,… makes these parts count as missing,
// to show those tests skip rather than fail or hang without them.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chooseLayout, parseMountinfo, parseProcCgroup, type Layout } from '../../src/cgroup';
import { REPO } from './supervisor';

export type Part = 'sd-notify' | 'python3' | 'pty' | 'chromium' | 'busybox' | 'loop' | 'cgroup' | 'prometheus-parser';

const hidden = (): Set<string> => new Set((process.env.AP_TEST_HIDE ?? '').split(',').map((p) => p.trim()).filter(Boolean));

/** Why `part` is missing here ("needs …"), or null when tests can use it. */
export function missing(part: Part): string | null {
  if (hidden().has(part)) return `needs ${part} (hidden by AP_TEST_HIDE)`;
  switch (part) {
    case 'sd-notify':
      return addonMissing(join(REPO, 'dist/notify.node'));
    case 'python3':
      return commandMissing('python3', 'apt-get install python3');
    case 'pty':
      return commandMissing('python3', 'apt-get install python3') ?? (existsSync('/dev/ptmx') ? null : 'needs a pseudo-terminal (no /dev/ptmx)');
    case 'chromium':
      return chromiumMissing(chromiumPath());
    case 'busybox':
      return commandMissing('busybox', 'apt-get install busybox');
    case 'loop':
      if (process.getuid?.() !== 0) return 'needs root for loop devices';
      return existsSync('/dev/loop-control') ? null : 'needs loop devices (no /dev/loop-control)';
    case 'cgroup':
      return cgroupMissing();
    case 'prometheus-parser':
      // The Prometheus project's own parser of the text format, as Debian packages it.
      return spawnSync('/usr/bin/python3', ['-c', 'import prometheus_client.parser'], { stdio: 'ignore' }).status === 0 ? null : 'needs the Prometheus text-format parser (apt-get install python3-prometheus-client)';
  }
}

/** Why no service cgroup can be made here (the supervisor's own check: src/cgroup), or null. */
function cgroupMissing(): string | null {
  if (process.getuid?.() !== 0) return 'needs root to make cgroups';
  const layout = cgroupLayout();
  if (layout.version === null) return `needs a writable cgroup hierarchy with memory, cpu and pids: ${layout.reason}`;
  const probe = join(layout.version === 2 ? layout.own : layout.own.memory, `ap-probe-${process.pid}`);
  try {
    mkdirSync(probe);
    rmdirSync(probe);
    return null;
  } catch (err) {
    return `needs a writable cgroup hierarchy: ${probe} cannot be made (${(err as Error).message})`;
  }
}

/** Where this process's cgroups are (a supervisor the test starts makes its groups below them). */
export function cgroupLayout(): Layout {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
  return chooseLayout(parseMountinfo(read('/proc/self/mountinfo') ?? ''), parseProcCgroup(read('/proc/self/cgroup') ?? ''), (folder) => read(join(folder, 'cgroup.controllers'))?.trim().split(/\s+/) ?? null);
}

/** The Chromium the browser tests drive: AP_CHROMIUM, else Debian's. */
export function chromiumPath(): string {
  return process.env.AP_CHROMIUM ?? '/usr/bin/chromium';
}

/** Why the Chromium at `path` cannot be used, or null. */
export function chromiumMissing(path: string): string | null {
  return existsSync(path) ? null : `needs Chromium: none at ${path} (apt-get install chromium, or set AP_CHROMIUM)`;
}

/**
 * Why the sd-notify addon at `path` (where the bundle loads it from: the build
 * copies it beside dist/ap.js when npm ci could build it) cannot serve, or null.
 */
export function addonMissing(path: string): string | null {
  const why = 'needs the sd-notify addon (install libsystemd-dev before npm ci)';
  if (!existsSync(path)) return `${why}: no ${path}`;
  try {
    createRequire(import.meta.url)(path);
    return null;
  } catch (err) {
    return `${why}: ${path} does not load (${(err as Error).message.split('\n')[0]})`;
  }
}

/** Why `command` cannot be run with this PATH, or null. */
export function commandMissing(command: string, install: string, path = process.env.PATH ?? ''): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${command}`], { env: { PATH: path } }).status === 0;
  return found ? null : `needs ${command} (${install})`;
}
