// The supervision state machine of one supervised process (an app service;
// the managed PostgreSQL cluster reuses it), as a pure table: state × event →
// state and actions, after s6-supervise. A leaf: the executors
// (services/process.ts, db/keeper.ts) carry out the actions; this decides.
//
//   stopped ──start──▶ starting ──ready──▶ running ──stable──▶ running (backoff reset)
//      ▲                  │ exit              │ exit            │ exit: at once ──▶ starting
//      │ stop             ▼                   ▼
//   stopping ◀──stop── backing-off ◀── (death tally below the limit)
//                         │ timer → starting
//   failed ◀── (N deaths in M seconds, or the do-not-restart exit code); start by hand leaves it

export type State = 'stopped' | 'starting' | 'running' | 'backing-off' | 'failed' | 'stopping';

export type Event =
  | { readonly type: 'start' }
  | { readonly type: 'stop' }
  | { readonly type: 'ready' }
  // `cause` says what killed it when the supervisor knows better than the signal (out of memory).
  | { readonly type: 'exit'; readonly code: number | null; readonly signal: string | null; readonly cause?: string }
  | { readonly type: 'timer' }
  | { readonly type: 'start-timeout' }
  | { readonly type: 'stable' };

export type Action =
  | { readonly type: 'spawn' }
  | { readonly type: 'kill' }
  | { readonly type: 'schedule-restart'; readonly delayMs: number }
  | { readonly type: 'cancel-restart' }
  | { readonly type: 'arm-start-timeout' }
  | { readonly type: 'arm-stable' }
  | { readonly type: 'crash-record'; readonly code: number | null; readonly signal: string | null }
  | { readonly type: 'announce'; readonly message: string };

export interface Policy {
  /** Delay before the first restart; doubled for each further death. */
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** This many deaths within windowMs → failed. */
  readonly maxDeaths: number;
  readonly windowMs: number;
  /** Running this long resets the backoff. */
  readonly stableMs: number;
  /** A service that exits with this code asks not to be restarted. */
  readonly noRestartCode: number;
}

export const DEFAULT_POLICY: Policy = {
  minDelayMs: 1000,
  maxDelayMs: 60_000,
  maxDeaths: 5,
  windowMs: 120_000,
  stableMs: 60_000,
  noRestartCode: 125,
};

export interface Machine {
  readonly state: State;
  /** Times of recent deaths, oldest first, within the policy window. */
  readonly deaths: readonly number[];
  /** Consecutive restarts since the service last ran stably. */
  readonly attempt: number;
  /**
   * It has run stably since its last start: its next death is restarted at
   * once (its clients wait the least), a further one backs off as usual.
   */
  readonly stable?: boolean;
  /** Why it failed, for people. */
  readonly reason: string | null;
}

export const INITIAL: Machine = { state: 'stopped', deaths: [], attempt: 0, reason: null };

export interface Step {
  readonly machine: Machine;
  readonly actions: readonly Action[];
}

/** The next machine and what to do, for `event` at time `now`. */
export function step(m: Machine, event: Event, policy: Policy, now: number): Step {
  const to = (machine: Partial<Machine>, ...actions: Action[]): Step => ({ machine: { ...m, ...machine }, actions });
  const same: Step = { machine: m, actions: [] };

  switch (event.type) {
    case 'start':
      if (m.state === 'stopped' || m.state === 'failed') {
        return to({ state: 'starting', deaths: [], attempt: 0, reason: null, stable: false }, { type: 'spawn' }, { type: 'arm-start-timeout' });
      }
      if (m.state === 'backing-off') return to({ state: 'starting' }, { type: 'cancel-restart' }, { type: 'spawn' }, { type: 'arm-start-timeout' });
      return same;

    case 'stop':
      if (m.state === 'starting' || m.state === 'running') return to({ state: 'stopping' }, { type: 'kill' });
      if (m.state === 'backing-off') return to({ state: 'stopped' }, { type: 'cancel-restart' });
      if (m.state === 'failed') return to({ state: 'stopped' });
      return same;

    case 'ready':
      return m.state === 'starting' ? to({ state: 'running' }, { type: 'arm-stable' }) : same;

    case 'stable':
      return m.state === 'running' ? to({ attempt: 0, reason: null, stable: true }) : same;

    case 'start-timeout':
      return m.state === 'starting' ? to({}, { type: 'announce', message: 'did not report ready in time; killing it' }, { type: 'kill' }) : same;

    case 'timer':
      return m.state === 'backing-off' ? to({ state: 'starting' }, { type: 'spawn' }, { type: 'arm-start-timeout' }) : same;

    case 'exit': {
      if (m.state === 'stopping') return to({ state: 'stopped' });
      if (m.state !== 'starting' && m.state !== 'running') return same;
      const how = event.cause ?? (event.signal ? `signal ${event.signal}` : `code ${event.code}`);
      const record: Action = { type: 'crash-record', code: event.code, signal: event.signal };
      const deaths = [...m.deaths.filter((t) => now - t < policy.windowMs), now];
      if (event.code === policy.noRestartCode) {
        return to({ state: 'failed', deaths, reason: `exited with code ${event.code}: it asked not to be restarted` }, record);
      }
      if (deaths.length >= policy.maxDeaths) {
        const reason = `died ${deaths.length} times within ${Math.round(policy.windowMs / 1000)} s (last: ${how}); start it by hand once fixed`;
        return to({ state: 'failed', deaths, reason }, record);
      }
      if (m.stable && m.state === 'running') {
        return to(
          { state: 'starting', deaths, attempt: 0, stable: false, ...(event.cause ? { reason: event.cause } : {}) },
          record,
          { type: 'announce', message: `exited (${how}) after running stably; restarting at once` },
          { type: 'spawn' },
          { type: 'arm-start-timeout' },
        );
      }
      const delayMs = Math.min(policy.maxDelayMs, policy.minDelayMs * 2 ** m.attempt);
      return to(
        { state: 'backing-off', deaths, attempt: m.attempt + 1, ...(event.cause ? { reason: event.cause } : {}) },
        record,
        { type: 'announce', message: `exited (${how}); restarting in ${delayMs} ms` },
        { type: 'schedule-restart', delayMs },
      );
    }
  }
}
