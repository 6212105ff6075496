// The charts' axes (src/ui/axes.ts): value axes from 0 in the unit's own
// steps with labels that differ, and time axes whose labels keep apart and
// stay inside the room they are given, in local time, for 1 h, 24 h and 7 d.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { niceStep, timeAxis, valueAxis, type Axis } from '../../src/ui/axes';

const MB = 1024 * 1024;
const GB = 1024 * MB;
/** A monospace-like font: 7 px a character. */
const measure = (text: string) => text.length * 7;
const labels = (axis: Axis) => axis.ticks.map((t) => t.label);

describe('the charts\' value axes', () => {
  it('CPU of all cores: 0 to 100 % whatever the data, each label its own', () => {
    const axis = valueAxis([0, 0, 0], { unit: 'percent', top: 100 }, 136);
    assert.deepEqual([axis.min, axis.max], [0, 100]);
    assert.deepEqual(labels(axis), ['0 %', '20 %', '40 %', '60 %', '80 %', '100 %']);
    assert.deepEqual(
      axis.ticks.map((t) => t.at),
      [0, 0.2, 0.4, 0.6, 0.8, 1],
    );
    // Fewer rows on a lower chart.
    assert.deepEqual(labels(valueAxis([], { unit: 'percent', top: 100 }, 60)), ['0 %', '50 %', '100 %']);
  });

  it('a partition against its size: the axis runs to the size, labelled in its unit', () => {
    const axis = valueAxis([26.6 * GB], { unit: 'bytes', top: 58 * GB }, 136);
    assert.equal(axis.max, 58 * GB);
    assert.deepEqual(labels(axis), ['0 bytes', '20.0 GB', '40.0 GB']);
    assert.ok(axis.ticks.every((t) => t.at <= 1));
  });

  it('sizes without a whole: a top a little above the data, in binary steps (1000 MB is 1 GB)', () => {
    assert.deepEqual(labels(valueAxis([118 * MB, 124 * MB], { unit: 'bytes' }, 136)), ['0 bytes', '25.0 MB', '50.0 MB', '75.0 MB', '100 MB', '125 MB']);
    assert.equal(niceStep(600 * MB, 'bytes'), GB);
    assert.equal(niceStep(140 * MB, 'bytes'), 200 * MB);
    assert.equal(niceStep(700, 'bytes'), 1024);
    assert.equal(niceStep(70, 'bytes'), 100);
    assert.equal(niceStep(0.3, 'bytes'), 1);
  });

  it('counts in whole numbers; nothing but zeros still has a scale; one core may be passed', () => {
    assert.deepEqual(labels(valueAxis([0, 0], { unit: 'count' }, 136)), ['0', '1']);
    assert.deepEqual(labels(valueAxis([3, 7], { unit: 'count' }, 136)), ['0', '2', '4', '6', '8']);
    const core = valueAxis([12, 140], { unit: 'percent', atLeast: 100 }, 136);
    assert.ok(core.max >= 140, `${core.max}`);
    assert.equal(valueAxis([12], { unit: 'percent', atLeast: 100 }, 136).max, 100);
  });
});

describe('the charts\' time axes', () => {
  const at = (h: number, m: number, s = 0, day = 30) => new Date(2026, 10, day, h, m, s).getTime();

  /** Labels keep 14 px apart and stay within the plot and its room on either side. */
  function assertReadable(axis: Axis, width: number, room: { left: number; right: number }) {
    const boxes = axis.ticks.map((t) => ({ left: t.at * width - measure(t.label) / 2, right: t.at * width + measure(t.label) / 2, label: t.label }));
    for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i]!.left - boxes[i - 1]!.right >= 14, `${boxes[i - 1]!.label} and ${boxes[i]!.label} are too close`);
    for (const b of boxes) assert.ok(b.left >= -room.left && b.right <= width + room.right, `${b.label} sticks out`);
  }

  it('an hour on a wide chart: whole minutes, on a narrow one fewer, never overlapping', () => {
    const wide = timeAxis(at(13, 5), at(14, 5), 900, measure, { left: 40, right: 30 });
    assert.ok(wide.ticks.length >= 6, labels(wide).join(' '));
    assert.ok(labels(wide).every((l) => /^\d\d:\d\d$/.test(l)));
    assert.ok(wide.ticks.every((t) => new Date(t.value).getMinutes() % 5 === 0 && new Date(t.value).getSeconds() === 0));
    assertReadable(wide, 900, { left: 40, right: 30 });
    const narrow = timeAxis(at(13, 5), at(14, 5), 220, measure, { left: 40, right: 30 });
    assert.ok(narrow.ticks.length >= 2 && narrow.ticks.length < wide.ticks.length, labels(narrow).join(' '));
    assertReadable(narrow, 220, { left: 40, right: 30 });
  });

  it('24 hours: hours, with the date at midnight', () => {
    const crossing = timeAxis(at(14, 5), at(14, 5) + 24 * 3600_000, 900, measure, { left: 40, right: 30 });
    assert.ok(labels(crossing).includes('12-01'), labels(crossing).join(' '));
    assert.ok(labels(crossing).some((l) => /^\d\d:00$/.test(l)));
    assertReadable(crossing, 900, { left: 40, right: 30 });
  });

  it('7 days: the dates, noon between them when wide, every other day when narrow', () => {
    const week = timeAxis(at(14, 5, 0, 24), at(14, 5, 0, 30) + 24 * 3600_000, 900, measure, { left: 40, right: 30 });
    assert.deepEqual(
      labels(week).filter((l) => l !== '12:00'),
      ['11-25', '11-26', '11-27', '11-28', '11-29', '11-30', '12-01'],
    );
    assertReadable(week, 900, { left: 40, right: 30 });
    const narrow = timeAxis(at(14, 5, 0, 24), at(14, 5, 0, 30) + 24 * 3600_000, 200, measure, { left: 40, right: 30 });
    assert.ok(narrow.ticks.length >= 2 && narrow.ticks.length <= 4, labels(narrow).join(' '));
    assertReadable(narrow, 200, { left: 40, right: 30 });
  });

  it('a minute just after a start: seconds', () => {
    const minute = timeAxis(at(14, 4, 30), at(14, 5, 30), 300, measure, { left: 40, right: 30 });
    assert.ok(minute.ticks.length >= 2);
    assert.ok(labels(minute).every((l) => /^\d\d:\d\d:\d\d$/.test(l)), labels(minute).join(' '));
    assertReadable(minute, 300, { left: 40, right: 30 });
  });

  it('leaves out a label that would stick out of the chart rather than clip it', () => {
    // 14:00 sits on the plot's left edge with no room beside it.
    const tight = timeAxis(at(14, 0), at(15, 0), 900, measure, { left: 0, right: 0 });
    assert.notEqual(tight.ticks[0]!.label, '14:00');
    const roomy = timeAxis(at(14, 0), at(15, 0), 900, measure, { left: 40, right: 40 });
    assert.equal(roomy.ticks[0]!.label, '14:00');
    assert.equal(roomy.ticks.at(-1)!.label, '15:00');
  });
});
