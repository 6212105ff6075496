// The Manager's human units (src/ui/format.ts): sizes, durations, ages and
// shares as a person reads them, at every unit's edges.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ago, bytes, duration, percent, readableSizes, when } from '../../src/ui/format';

describe('the Manager UI formats', () => {
  it('says sizes in the unit that fits, three digits at most', () => {
    assert.equal(bytes(0), '0 bytes');
    assert.equal(bytes(1), '1 byte');
    assert.equal(bytes(812), '812 bytes');
    assert.equal(bytes(1741), '1.7 KB'); // the 1.7 KB backup the Manager showed as "0.0 MB"
    assert.equal(bytes(12.3 * 1048576), '12.3 MB');
    assert.equal(bytes(245 * 1048576), '245 MB');
    assert.equal(bytes(27248 * 1048576), '26.6 GB');
    assert.equal(bytes(-2048), '−2.0 KB');
    assert.equal(bytes(Number.NaN), '?');
  });

  it('says durations in the two largest units', () => {
    assert.equal(duration(0.42), '0.4 s');
    assert.equal(duration(42), '42 s');
    assert.equal(duration(254), '4 min 14 s'); // "up 254 s" before
    assert.equal(duration(300), '5 min');
    assert.equal(duration(5 * 3600 + 180), '5 h 3 min');
    assert.equal(duration(86400), '1 day');
    assert.equal(duration(4 * 86400 + 2 * 3600 + 59), '4 days 2 h');
    assert.equal(duration(-1), '?');
  });

  it('says how long ago, and shares and times', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    assert.equal(ago('2026-12-01T11:59:30Z', now), 'just now');
    assert.equal(ago('2026-12-01T11:55:00Z', now), '5 min ago');
    assert.equal(ago(now - 3 * 3600_000, now), '3 h ago');
    assert.equal(ago('2026-11-30T12:00:00Z', now), '1 day ago');
    assert.equal(ago('not a time', now), '?');
    assert.equal(percent(1, 3), '33 %');
    assert.equal(percent(1, 250), '0.4 %');
    assert.equal(percent(5, 0), '?');
    assert.match(when('2026-12-01T12:05:00Z'), /^2026-12-0[12] \d\d:05$/);
  });

  it("reads the byte counts of the box's messages in human units (the notes of finished jobs)", () => {
    assert.equal(readableSizes('backed up web1@example.com to /tmp/x.apbk (1477 bytes)'), 'backed up web1@example.com to /tmp/x.apbk (1.4 KB)');
    assert.equal(readableSizes('backed up the Manager to http://h/x (3145728 bytes, encrypted with the backup key)'), 'backed up the Manager to http://h/x (3.0 MB, encrypted with the backup key)');
    assert.equal(readableSizes('x.apbk is too short to be a backup (12 bytes)'), 'x.apbk is too short to be a backup (12 bytes)');
    assert.equal(readableSizes('no size here: 1477 files'), 'no size here: 1477 files');
  });
});
