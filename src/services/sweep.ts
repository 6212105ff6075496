// Finding every process a service started, also those that left its process
// group (setsid, double fork) or outlived a killed supervisor. A service with
// an account of its own owns every process of that uid; one run as ourselves
// (not root, or the unsafe debugging flag) is known by the marker in its
// environment, which its descendants inherit. Reads /proc synchronously: it
// is a few hundred small reads, done only around a start or an exit.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The environment variable every service process carries: `<state root>:<service>`. */
export const MARKER = 'AP_SERVICE_ID';

export interface Owner {
  /** The service's own uid, or null when it runs as the supervisor's user. */
  readonly uid: number | null;
  /** The value of MARKER for this service. */
  readonly marker: string;
}

/** Pids of the processes that belong to `owner`. */
export function processesOf(owner: Owner): number[] {
  const found: number[] = [];
  const mine = `${MARKER}=${owner.marker}`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || pid === 1) continue;
    try {
      // One read and one stat a process (a restart waits for this scan): the
      // status file, much the dearer to make, only for the service's own.
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      let ours = env.includes(mine);
      // /proc/<pid> is owned by the process's effective uid (a setuid program the service runs keeps the marker, unless it clears its environment).
      if (!ours && owner.uid !== null && statSync(`/proc/${pid}`).uid === owner.uid) {
        // Every process of the service's uid is its own, unless it belongs to
        // another running supervisor's service of the same name (tests run
        // several on one machine, sharing the account).
        const other = env.find((v) => v.startsWith(`${MARKER}=`));
        ours = other === undefined || !ofOtherSupervisor(other.slice(MARKER.length + 1), owner.marker);
      }
      // Dead already, waiting to be reaped: nothing to signal.
      if (ours && !/^State:\s+[ZX]/m.test(readFileSync(`/proc/${pid}/status`, 'latin1'))) found.push(pid);
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found;
}

/**
 * Whether `marker` names a service of another supervisor that is running: a
 * different state root whose lock file is root's and names a live process.
 * The service itself can write the marker it likes, but not a file owned by
 * root, so it cannot hide from the sweep by naming another root.
 */
function ofOtherSupervisor(marker: string, ours: string): boolean {
  const root = marker.slice(0, marker.lastIndexOf(':'));
  if (root === '' || root === ours.slice(0, ours.lastIndexOf(':'))) return false;
  try {
    const lock = join(root, 'var/run/ap.pid');
    if (statSync(lock).uid !== 0) return false;
    const pid = Number(readFileSync(lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 && existsSync(`/proc/${pid}`);
  } catch {
    return false;
  }
}

/** Sends `signal` to every process of `owner`, again until none is left (a forking service races us); the count signalled. */
export function sweep(owner: Owner, signal: NodeJS.Signals): number {
  let total = 0;
  for (let round = 0; round < (signal === 'SIGKILL' ? 10 : 1); round++) {
    const pids = processesOf(owner);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
        total++;
      } catch {
        // already gone
      }
    }
  }
  return total;
}
