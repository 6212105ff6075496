import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_GUARD_POLICY, diskStep, INITIAL_GUARD, type GuardAction, type GuardPolicy, type GuardState } from '../../src/monitor/disk';

const MB = 1024 * 1024;
const TOTAL = 1000 * MB;
const policy: GuardPolicy = { ...DEFAULT_GUARD_POLICY, threshold: 90, reserveBytes: 100 * MB };
const at = (usedPercent: number) => ({ totalBytes: TOTAL, freeBytes: TOTAL - (TOTAL * usedPercent) / 100 });
const kinds = (actions: GuardAction[]) => actions.map((a) => (a.kind === 'raise' || a.kind === 'clear' ? `${a.kind}:${a.level}` : a.kind));
const H = 3600_000;

/** Runs readings (percent used, at hour offsets) through the guard; returns each step's action kinds. */
function walk(readings: [number, number][], start: GuardState = INITIAL_GUARD): { steps: string[][]; state: GuardState } {
  let state = start;
  const steps: string[][] = [];
  for (const [used, hour] of readings) {
    const r = diskStep(at(used), hour * H, state, policy);
    state = r.state;
    steps.push(kinds(r.actions));
  }
  return { steps, state };
}

describe('disk guard decisions', () => {
  it('warns 10 points before the threshold, stops at it, recovers below it minus the hysteresis', () => {
    const { steps } = walk([
      [70, 0],
      [80, 0], // threshold 90 - 10
      [85, 1],
      [90, 2],
      [89, 2.5], // within the hysteresis: still critical (and no hour has passed)
      [86, 4], // below 90 - 3: back to warning, services start
      [78, 5], // within the warning's hysteresis (80 - 3)
      [76, 6], // below: all clear
    ]);
    assert.deepEqual(steps, [
      [],
      ['raise:warning', 'mail'],
      [],
      ['raise:critical', 'stop-services', 'mail'],
      [],
      ['clear:critical', 'start-services', 'raise:warning'],
      [],
      ['clear:warning'],
    ]);
  });

  it('mails every 24 h while warning and every hour while critical', () => {
    const warning = walk([
      [82, 0],
      [82, 23],
      [82, 24],
      [82, 47],
      [82, 48],
    ]).steps;
    assert.deepEqual(warning, [['raise:warning', 'mail'], [], ['mail'], [], ['mail']]);
    const critical = walk([
      [95, 0],
      [95, 0.5],
      [95, 1],
      [95, 1.9],
      [95, 2],
    ]).steps;
    assert.deepEqual(critical, [['raise:critical', 'stop-services', 'mail'], [], ['mail'], [], ['mail']]);
  });

  it('starts again exactly the services it stopped', () => {
    let state = diskStep(at(95), 0, INITIAL_GUARD, policy).state;
    state = { ...state, stopped: ['echo', 'files'] }; // what the executor recorded
    const back = diskStep(at(50), H, state, policy);
    assert.deepEqual(back.actions.find((a) => a.kind === 'start-services'), { kind: 'start-services', services: ['echo', 'files'] });
    assert.deepEqual(back.state.stopped, []);
  });

  it('empties the reserve when the disk is completely full, counts it as used, and recreates it when there is room', () => {
    const full = diskStep({ totalBytes: TOTAL, freeBytes: 0 }, 0, INITIAL_GUARD, policy);
    assert.deepEqual(kinds(full.actions), ['empty-reserve', 'raise:critical', 'stop-services', 'mail']);
    assert.equal(full.state.reserveEmptied, true);
    // The emptied file frees 100 MB (90 % used), but that is the database's room: still critical.
    const after = diskStep(at(90), H / 2, full.state, policy);
    assert.deepEqual(kinds(after.actions), []);
    assert.equal(after.state.level, 'critical');
    // Only with room for the reserve and its margin is it made again.
    const room = diskStep(at(60), H, after.state, policy);
    assert.deepEqual(kinds(room.actions), ['recreate-reserve', 'clear:critical', 'start-services', 'clear:warning']);
    assert.equal(room.state.reserveEmptied, false);
  });
});
