import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Settings } from '../../src/db';
import { EMPTY_ANALYSE_STATE, MAX_OFFSET_MS, NightlyAnalyse, planAnalyse, wallClock, zonedInstant, type AnalyseState } from '../../src/instances/maintenance';
import { createLogger } from '../../src/log';

const log = createLogger({ level: 'error', file: null });
const at = (iso: string) => new Date(iso);

describe('time of day in a time zone', () => {
  it('finds the instant of a local hour, across DST changes', () => {
    assert.equal(zonedInstant('2026-11-28', 1, 'UTC').toISOString(), '2026-11-28T01:00:00.000Z');
    assert.equal(zonedInstant('2026-11-28', 1, 'Europe/Berlin').toISOString(), '2026-11-28T00:00:00.000Z'); // CET, +1
    assert.equal(zonedInstant('2026-07-01', 1, 'Europe/Berlin').toISOString(), '2026-06-30T23:00:00.000Z'); // CEST, +2
    assert.equal(zonedInstant('2026-11-28', 20, 'America/New_York').toISOString(), '2026-11-29T01:00:00.000Z');
    // 2026-03-29 02:00 does not exist in Berlin (clocks jump to 03:00): the hour after.
    assert.equal(zonedInstant('2026-03-29', 2, 'Europe/Berlin').toISOString(), '2026-03-29T01:00:00.000Z');
  });

  it('reads back the hour it was asked for (property, several zones)', () => {
    const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Adelaide', 'Pacific/Chatham'];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3650 }), fc.integer({ min: 0, max: 23 }), fc.constantFrom(...zones), (days, hour, zone) => {
        const day = new Date(Date.UTC(2024, 0, 1 + days)).toISOString().slice(0, 10);
        const instant = zonedInstant(day, hour, zone);
        const w = wallClock(instant, zone);
        // Either the hour itself, or (in a DST gap) the first hour after it on that day.
        assert.equal(`${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`, day);
        assert.ok(w.hour === hour || w.hour === hour + 1, `${zone} ${day} ${hour}: got ${w.hour}`);
        assert.equal(w.minute, 0, `${zone} ${day} ${hour}`);
      }),
    );
  });
});

describe('nightly analyse schedule', () => {
  it('plans once per day at the hour, local time, plus a random offset under 7 hours', () => {
    const first = planAnalyse(at('2026-11-28T00:30:00Z'), 2, 'Europe/Berlin', EMPTY_ANALYSE_STATE, () => 0.5);
    // 00:30Z is 01:30 in Berlin: before 02:00, so the scheduling day is the 27th.
    assert.equal(first.state.day, '2026-11-27');
    assert.equal(first.state.plannedAt, '2026-11-27T04:30:00.000Z'); // 02:00 CET = 01:00Z, + 3.5 h
    assert.equal(first.due, true); // the 27th has not run: catch up
    const later = planAnalyse(at('2026-11-28T01:10:00Z'), 2, 'Europe/Berlin', { ...first.state, lastRunDay: '2026-11-27' }, () => 0.5);
    assert.equal(later.state.day, '2026-11-28');
    assert.equal(later.state.plannedAt, '2026-11-28T04:30:00.000Z');
    assert.equal(later.due, false);
    // The offset is drawn once: asking again with another random does not move it.
    const again = planAnalyse(at('2026-11-28T02:00:00Z'), 2, 'Europe/Berlin', later.state, () => 0.99);
    assert.equal(again.state.plannedAt, later.state.plannedAt);
    assert.equal(planAnalyse(at('2026-11-28T04:30:00Z'), 2, 'Europe/Berlin', later.state, () => 0).due, true);
  });

  it('keeps the offset within 7 hours for any random draw', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 23 }), (r, hour) => {
        const { state } = planAnalyse(at('2026-11-28T12:00:00Z'), hour, 'UTC', EMPTY_ANALYSE_STATE, () => r);
        const start = zonedInstant(state.day!, hour, 'UTC').getTime();
        const offset = Date.parse(state.plannedAt!) - start;
        assert.ok(offset >= 0 && offset < MAX_OFFSET_MS, `offset ${offset}`);
      }),
    );
  });

  it('runs each day once across restarts and a clock that jumps back', async () => {
    const store = new Map<string, string>();
    const settings: Settings = {
      get: async (name) => store.get(name) ?? null,
      set: async (name, value) => void store.set(name, value),
      setMany: async (values) => void Object.entries(values).forEach(([n, v]) => store.set(n, v)),
      delete: async (name) => void store.delete(name),
    };
    store.set('dbOptimizationHour', '3');
    store.set('timezone', 'America/New_York');
    let now = at('2026-11-28T07:00:00Z'); // 02:00 in New York: the 27th's window
    const runs: string[] = [];
    const make = () =>
      new NightlyAnalyse({
        settings,
        target: () => ({ bin: '/nonexistent', cluster: { socketDir: '/nonexistent', port: 5432 } }),
        log,
        now: () => now,
        random: () => 0.25, // + 1 h 45 min
        run: async () => {
          runs.push(now.toISOString());
          return 'ok';
        },
      });
    let analyse = make();
    await analyse.tick(); // catches up the 27th at once
    assert.deepEqual(runs, ['2026-11-28T07:00:00.000Z']);
    now = at('2026-11-28T09:00:00Z'); // 04:00 local: the 28th's window opened at 03:00, start at 04:45
    await analyse.tick();
    assert.equal(runs.length, 1);
    analyse = make(); // a restart
    now = at('2026-11-28T09:46:00Z');
    await analyse.tick();
    assert.deepEqual(runs.slice(1), ['2026-11-28T09:46:00.000Z']);
    await analyse.tick();
    analyse = make();
    await analyse.tick();
    now = at('2026-11-28T08:00:00Z'); // the clock goes back an hour
    await analyse.tick();
    assert.equal(runs.length, 2);
    const status = await analyse.status();
    assert.equal(status.lastResult, 'ok');
    assert.equal(status.hour, 3);
    assert.equal(status.timeZone, 'America/New_York');
    // A bad setting falls back (and says so in the log) rather than stopping the schedule.
    store.set('timezone', 'Mars/Olympus');
    assert.equal((await analyse.status()).timeZone, 'UTC');
  });

  it('records a failed run with its reason', async () => {
    const store = new Map<string, string>();
    const settings: Settings = { get: async (n) => store.get(n) ?? null, set: async (n, v) => void store.set(n, v), setMany: async (values) => void Object.entries(values).forEach(([n, v]) => store.set(n, v)), delete: async (n) => void store.delete(n) };
    const analyse = new NightlyAnalyse({
      settings,
      target: () => ({ bin: '/nonexistent', cluster: { socketDir: '/x', port: 1 } }),
      log,
      now: () => at('2026-11-28T12:00:00Z'),
      random: () => 0,
      run: async () => {
        throw new Error('disk full');
      },
    });
    await analyse.tick();
    const state = JSON.parse(store.get('nightlyAnalyse')!) as AnalyseState;
    assert.equal(state.lastOk, false);
    assert.match(state.lastResult!, /disk full/);
    assert.equal(state.lastRunDay, '2026-11-28');
  });
});
