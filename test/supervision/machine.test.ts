import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY, INITIAL, step, type Event, type Machine } from '../../src/supervision';

const policy = { ...DEFAULT_POLICY, minDelayMs: 100, maxDelayMs: 1000, maxDeaths: 4, windowMs: 10_000 };

function run(events: [Event, number][], from: Machine = INITIAL) {
  let machine = from;
  const log: string[] = [];
  for (const [event, now] of events) {
    const result = step(machine, event, policy, now);
    machine = result.machine;
    log.push(`${event.type}→${machine.state}:${result.actions.map((a) => a.type + ('delayMs' in a ? `(${a.delayMs})` : '')).join(',')}`);
  }
  return { machine, log };
}

const exit = (code: number | null = 1, signal: string | null = null): Event => ({ type: 'exit', code, signal });

describe('supervision state machine', () => {
  it('starts, becomes ready, arms the stable timer', () => {
    const { machine, log } = run([[{ type: 'start' }, 0], [{ type: 'ready' }, 10]]);
    assert.equal(machine.state, 'running');
    assert.deepEqual(log, ['start→starting:spawn,arm-start-timeout', 'ready→running:arm-stable']);
  });

  it('restarts with exponential backoff and a crash record, then fails after N deaths in the window', () => {
    const { machine, log } = run([
      [{ type: 'start' }, 0],
      [exit(), 10],
      [{ type: 'timer' }, 110],
      [exit(), 120],
      [{ type: 'timer' }, 320],
      [exit(), 330],
      [{ type: 'timer' }, 730],
      [exit(), 740],
    ]);
    assert.deepEqual(log.filter((l) => l.startsWith('exit')), [
      'exit→backing-off:crash-record,announce,schedule-restart(100)',
      'exit→backing-off:crash-record,announce,schedule-restart(200)',
      'exit→backing-off:crash-record,announce,schedule-restart(400)',
      'exit→failed:crash-record',
    ]);
    assert.equal(machine.state, 'failed');
    assert.match(machine.reason!, /died 4 times within 10 s \(last: code 1\)/);
  });

  it('forgets deaths outside the window and resets the backoff once stable', () => {
    const { machine, log } = run([
      [{ type: 'start' }, 0],
      [exit(), 1],
      [{ type: 'timer' }, 101],
      [{ type: 'ready' }, 102],
      [{ type: 'stable' }, 60_000],
      [exit(null, 'SIGSEGV'), 60_001],
    ]);
    // Its first death after running stably is restarted at once; a further one backs off from the first delay.
    assert.equal(machine.state, 'starting');
    assert.deepEqual(machine.deaths, [60_001]);
    assert.equal(log.at(-1), 'exit→starting:crash-record,announce,spawn,arm-start-timeout');
    const again = run([[exit(), 60_050], [{ type: 'timer' }, 60_150], [exit(), 60_160]], machine);
    assert.deepEqual(again.log, ['exit→backing-off:crash-record,announce,schedule-restart(100)', 'timer→starting:spawn,arm-start-timeout', 'exit→backing-off:crash-record,announce,schedule-restart(200)']);
  });

  it('restarts at once only after a stable run: a death before the stable mark, or one that keeps dying, backs off; the death tally still applies', () => {
    const early = run([[{ type: 'start' }, 0], [{ type: 'ready' }, 10], [exit(), 59_000]]);
    assert.equal(early.log.at(-1), 'exit→backing-off:crash-record,announce,schedule-restart(100)');
    // Stable, dies, restarted at once, stable again, dies: at once again (each death followed a stable run).
    const stableEachTime = run([
      [{ type: 'start' }, 0], [{ type: 'ready' }, 1], [{ type: 'stable' }, 60_001], [exit(), 60_002],
      [{ type: 'ready' }, 60_003], [{ type: 'stable' }, 120_003], [exit(), 120_004],
    ]);
    assert.deepEqual(stableEachTime.log.filter((l) => l.startsWith('exit')), ['exit→starting:crash-record,announce,spawn,arm-start-timeout', 'exit→starting:crash-record,announce,spawn,arm-start-timeout']);
    // The tally counts the immediate restarts' deaths too: maxDeaths (4) within the window fails it.
    const tally = run([
      [{ type: 'start' }, 0], [{ type: 'ready' }, 1], [{ type: 'stable' }, 2], [exit(), 3],
      [exit(), 4], [{ type: 'timer' }, 104], [exit(), 105], [{ type: 'timer' }, 305], [exit(), 306],
    ]);
    assert.equal(tally.machine.state, 'failed');
    // A stop, then a start by hand: not "stable" until it has run stably again.
    const restarted = run([[{ type: 'start' }, 0], [{ type: 'ready' }, 1], [{ type: 'stable' }, 2], [{ type: 'stop' }, 3], [exit(0), 4], [{ type: 'start' }, 5], [{ type: 'ready' }, 6], [exit(), 7]]);
    assert.equal(restarted.log.at(-1), 'exit→backing-off:crash-record,announce,schedule-restart(100)');
  });

  it('says what killed it when the supervisor knows (out of memory): in the reason while it backs off and in the failure, until it runs stably', () => {
    const oom: Event = { type: 'exit', code: null, signal: 'SIGKILL', cause: 'killed: out of memory (limit 32 MB)' };
    const once = run([[{ type: 'start' }, 0], [oom, 1]]);
    assert.deepEqual([once.machine.state, once.machine.reason, once.machine.deaths.length], ['backing-off', 'killed: out of memory (limit 32 MB)', 1]);
    const stable = run([[{ type: 'timer' }, 200], [{ type: 'ready' }, 300], [{ type: 'stable' }, 400]], once.machine);
    assert.equal(stable.machine.reason, null);
    const failed = run([[{ type: 'start' }, 0], [oom, 1], [{ type: 'timer' }, 2], [oom, 3], [{ type: 'timer' }, 4], [oom, 5], [{ type: 'timer' }, 6], [oom, 7]]);
    assert.equal(failed.machine.state, 'failed');
    assert.match(failed.machine.reason!, /^died 4 times within 10 s \(last: killed: out of memory \(limit 32 MB\)\)/);
  });

  it('caps the backoff delay', () => {
    let machine: Machine = { ...INITIAL, state: 'running', attempt: 10 };
    machine = step(machine, exit(), policy, 0).machine;
    const result = step({ ...machine, state: 'running' }, exit(), policy, 1);
    assert.ok(result.actions.some((a) => a.type === 'schedule-restart' && a.delayMs === 1000));
  });

  it('honours the do-not-restart exit code', () => {
    const { machine } = run([[{ type: 'start' }, 0], [exit(125), 5]]);
    assert.equal(machine.state, 'failed');
    assert.match(machine.reason!, /asked not to be restarted/);
  });

  it('stops from any live state without counting a death, and a failed service starts by hand', () => {
    assert.equal(run([[{ type: 'start' }, 0], [{ type: 'stop' }, 1], [exit(0), 2]]).machine.state, 'stopped');
    const backingOff = run([[{ type: 'start' }, 0], [exit(), 1], [{ type: 'stop' }, 2]]);
    assert.deepEqual(backingOff.log.at(-1), 'stop→stopped:cancel-restart');
    const failed: Machine = { ...INITIAL, state: 'failed', deaths: [1, 2, 3, 4], attempt: 3, reason: 'x' };
    const restarted = step(failed, { type: 'start' }, policy, 10);
    assert.deepEqual([restarted.machine.state, restarted.machine.deaths, restarted.machine.attempt], ['starting', [], 0]);
  });

  it('kills a child that never reports ready, and counts its exit as a death', () => {
    const { machine, log } = run([[{ type: 'start' }, 0], [{ type: 'start-timeout' }, 30_000], [exit(null, 'SIGTERM'), 30_001]]);
    assert.deepEqual(log[1], 'start-timeout→starting:announce,kill');
    assert.equal(machine.state, 'backing-off');
  });

  it('ignores events that do not apply', () => {
    for (const event of [{ type: 'ready' }, { type: 'timer' }, { type: 'stable' }, exit()] as Event[]) {
      assert.deepEqual(step(INITIAL, event, policy, 0), { machine: INITIAL, actions: [] });
    }
  });
});
