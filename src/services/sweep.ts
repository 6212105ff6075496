// Finding every process a service started, also those that left its process
// group (setsid, double fork) or outlived a killed supervisor. A service with
// an account of its own owns every process of that uid; one run as ourselves
// (not root, or the unsafe debugging flag) is known by the marker in its
// environment, which its descendants inherit. Reads /proc synchronously: it
// is a few hundred small reads, done only around a start or an exit.
import { readdirSync, readFileSync } from 'node:fs';

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
      const status = readFileSync(`/proc/${pid}/status`, 'latin1');
      if (/^State:\s+[ZX]/m.test(status)) continue; // dead already, waiting to be reaped
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      if (env.includes(mine)) found.push(pid);
      else if (owner.uid !== null && Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]) === owner.uid) {
        // Another supervisor's service of the same name (tests run several on one machine) says so in its marker.
        if (!env.some((v) => v.startsWith(`${MARKER}=`))) found.push(pid);
      }
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found;
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
