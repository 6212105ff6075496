// Keeps the database up, or says that it is not. Managed mode: the postmaster
// is our child, so its exit is heard at once; it is restarted with backoff and
// given up after too many deaths, by the same pure machine that supervises app
// services. Attached mode: S50postgresql owns the server, so we can only
// notice (one `SELECT 1` per check interval) and report.
//
// The machine is imported from its file, not from the services folder: that
// folder's index pulls in the process executor and imports this subsystem back.
import { INITIAL, step, type Action, type Event, type Machine, type Policy } from '../supervision';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';
import type { Cluster, ClusterExit } from './cluster';

export type DatabaseState = 'up' | 'down' | 'restarting' | 'given-up';

/** What `ap ctl status`, the health check and the alarm say about the database. */
export interface DatabaseHealth {
  readonly state: DatabaseState;
  /** When it went down (null while up). */
  readonly downSince: string | null;
  /** Restarts of a managed cluster since the supervisor started. */
  readonly restarts: number;
  /** The postmaster's pid (managed and up), else null. */
  readonly pid: number | null;
  /** How it last went down (exit code or signal, or the failed check), for people. */
  readonly reason: string | null;
}

export interface KeeperPolicy {
  /** First restart delay; doubled per further death. */
  readonly restartDelayMs: number;
  /** This many deaths within restartWindowMs: given up. */
  readonly restartLimit: number;
  readonly restartWindowMs: number;
  /** Attached mode: time between checks (each bounded by this, at least 5 s). */
  readonly checkIntervalMs: number;
}

export const DEFAULT_KEEPER_POLICY: KeeperPolicy = { restartDelayMs: 500, restartLimit: 5, restartWindowMs: 300_000, checkIntervalMs: 5000 };

export interface Keeper {
  health(): DatabaseHealth;
  /** Called on every change of state (down, restarting, given-up, up again). */
  onChange(listener: (health: DatabaseHealth, previous: DatabaseHealth) => void): void;
  /** Managed and given up: start again (the death tally starts afresh). Attached: check now. */
  start(): Promise<DatabaseHealth>;
  /**
   * Managed and up: stops the cluster and starts it again (a setting only a
   * start reads changed: replication's listen address). Listeners hear it go
   * and come back, as after a death, but it counts as no death. Attached: refused.
   */
  restart(why: string): Promise<DatabaseHealth>;
  /** No more restarts or checks (a restart under way is undone); `cluster` is then the caller's to stop. */
  stop(): Promise<void>;
  /** The cluster running now (managed), for the caller to stop. */
  readonly cluster: Cluster | null;
}

/** Restarts a managed cluster (`spawn` starts one and resolves when it accepts connections). */
export function keepManaged(first: Cluster, spawn: () => Promise<Cluster>, policy: KeeperPolicy, log: Logger): Keeper {
  const machinePolicy: Policy = {
    minDelayMs: policy.restartDelayMs,
    maxDelayMs: Math.max(30_000, policy.restartDelayMs),
    maxDeaths: policy.restartLimit,
    windowMs: policy.restartWindowMs,
    stableMs: 60_000,
    noRestartCode: -1, // PostgreSQL has no "do not restart me" code
  };
  let machine: Machine = { ...INITIAL, state: 'running' };
  let cluster: Cluster | null = first;
  let stopped = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let pending: Promise<void> = Promise.resolve();
  let stableTimer: NodeJS.Timeout | undefined;
  let restarts = 0;
  let downSince: Date | null = null;
  let reason: string | null = null;
  const listeners: ((health: DatabaseHealth, previous: DatabaseHealth) => void)[] = [];

  const health = (): DatabaseHealth => {
    const state: DatabaseState =
      machine.state === 'running' ? 'up' : machine.state === 'failed' ? 'given-up' : machine.state === 'stopped' ? 'down' : 'restarting';
    return { state, downSince: downSince?.toISOString() ?? null, restarts, pid: state === 'up' ? (cluster?.pid ?? null) : null, reason };
  };

  const watch = (c: Cluster) => {
    void c.exited.then((exit) => {
      if (stopped || c !== cluster) return; // a stop we asked for, or an old one
      const how = describeExit(exit);
      const tail = c.tail();
      log.error(`PostgreSQL died: the postmaster (pid ${c.pid}) ${how}${tail ? `; its last lines:\n${tail}` : ' (it printed nothing)'}`);
      dispatch({ type: 'exit', code: exit.code, signal: exit.signal }, () => {
        cluster = null;
        downSince ??= new Date();
        reason = `the postmaster (pid ${c.pid}) ${how}`;
      });
    });
  };

  /** `prepare` changes what health() says along with the event, so listeners hear both as one change. */
  const dispatch = (event: Event, prepare?: () => void) => {
    if (stopped) return;
    const before = health();
    prepare?.();
    const next = step(machine, event, machinePolicy, Date.now());
    machine = next.machine;
    for (const action of next.actions) execute(action);
    const after = health();
    if (after.state !== before.state || after.reason !== before.reason) for (const listener of listeners) listener(after, before);
  };

  const execute = (action: Action) => {
    switch (action.type) {
      case 'spawn':
        pending = spawn().then(
          async (c) => {
            if (stopped) return c.stop(10_000);
            log.info(`PostgreSQL is back (pid ${c.pid}) after restart ${restarts + 1}`);
            dispatch({ type: 'ready' }, () => {
              cluster = c;
              restarts++;
              downSince = null;
            });
            watch(c);
          },
          (err: unknown) => {
            // One line for status and the alarm; the whole story (the server's last lines) is in the log.
            log.error(`PostgreSQL restart failed: ${describe(err)}`);
            dispatch({ type: 'exit', code: null, signal: null }, () => (reason = describe(err).split('\n')[0]!));
          },
        );
        return;
      case 'schedule-restart':
        log.warn(`PostgreSQL is down (${reason}); restarting it in ${action.delayMs} ms`);
        restartTimer = setTimeout(() => dispatch({ type: 'timer' }), action.delayMs);
        return;
      case 'cancel-restart':
        clearTimeout(restartTimer);
        return;
      case 'arm-stable':
        clearTimeout(stableTimer);
        stableTimer = setTimeout(() => dispatch({ type: 'stable' }), machinePolicy.stableMs);
        stableTimer.unref();
        return;
      case 'announce':
        return; // said by schedule-restart, in our words
      case 'crash-record':
        if (machine.state === 'failed') {
          const windowS = Math.round(machinePolicy.windowMs / 1000);
          reason = `died ${machine.deaths.length} times within ${windowS} s (last: ${reason ?? 'unknown'}); given up: fix the cause (see the log), then run "ap ctl db start" or restart the supervisor`;
          log.error(`PostgreSQL ${reason}`);
        }
        return;
      case 'kill':
      case 'arm-start-timeout':
        // startCluster bounds its own start and kills what did not get ready; we never ask to kill.
        return;
    }
  };

  watch(first);
  stableTimer = setTimeout(() => dispatch({ type: 'stable' }), machinePolicy.stableMs);
  stableTimer.unref();

  return {
    health,
    onChange: (listener) => void listeners.push(listener),
    get cluster() {
      return cluster;
    },
    async start() {
      if (machine.state === 'failed') {
        log.info('PostgreSQL: starting again, as asked');
        dispatch({ type: 'start' }, () => (reason = 'starting again, as asked, after it was given up'));
      }
      return health();
    },
    async restart(why) {
      const running = cluster;
      if (stopped || machine.state !== 'running' || !running) {
        throw new ApError('DB_UNAVAILABLE', `PostgreSQL is ${health().state}, not up: it cannot be restarted to apply ${why} now; it is applied at its next start`);
      }
      log.info(`PostgreSQL: restarting to apply ${why}`);
      // Forgotten first, so its exit is not heard as a death.
      dispatch({ type: 'stop' }, () => {
        cluster = null;
        downSince = new Date();
        reason = `restarting to apply ${why}`;
      });
      await running.stop(30_000);
      dispatch({ type: 'exit', code: 0, signal: null });
      dispatch({ type: 'start' });
      await pending;
      if (machine.state !== 'running') throw new ApError('PG_START_FAILED', `PostgreSQL did not come back after a restart to apply ${why}: ${reason ?? 'see the log'}`);
      return health();
    },
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      clearTimeout(stableTimer);
      await pending; // a restart under way is stopped when it is up
    },
  };
}

/** Watches an attached cluster: one cheap check per interval, bounded by the interval. */
export function keepAttached(ping: (timeoutMs: number) => Promise<string | null>, policy: KeeperPolicy, log: Logger): Keeper {
  let current: DatabaseHealth = { state: 'up', downSince: null, restarts: 0, pid: null, reason: null };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<DatabaseHealth> | null = null;
  const listeners: ((health: DatabaseHealth, previous: DatabaseHealth) => void)[] = [];

  const check = (): Promise<DatabaseHealth> =>
    (checking ??= ping(Math.max(policy.checkIntervalMs, 5000)) // a busy box is no dead server
      .then((failure) => {
        const before = current;
        if (failure !== null && before.state === 'up') {
          current = { ...before, state: 'down', downSince: new Date().toISOString(), reason: failure };
          log.error(`PostgreSQL (attached; S50postgresql runs it) is not answering: ${failure}`);
        } else if (failure === null && before.state !== 'up') {
          current = { ...before, state: 'up', downSince: null };
          log.info(`PostgreSQL (attached) answers again, after being down since ${before.downSince}`);
        }
        if (current !== before) for (const listener of listeners) listener(current, before);
        return current;
      })
      .finally(() => (checking = null)));

  const loop = () => {
    if (stopped) return;
    timer = setTimeout(() => void check().finally(loop), policy.checkIntervalMs);
    timer.unref();
  };
  loop();

  return {
    health: () => current,
    onChange: (listener) => void listeners.push(listener),
    cluster: null,
    start: check,
    restart: async () => {
      throw new ApError('UNSUPPORTED', 'an attached PostgreSQL is restarted by its init script (S50postgresql), not through the keeper');
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

function describeExit(exit: ClusterExit): string {
  return exit.signal ? `was killed by signal ${exit.signal}` : `exited with code ${exit.code}`;
}
