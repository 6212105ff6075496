import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ALL_TRACE_BITS, DEFAULT_TRACE_FLAGS, parseTraceFlags, TRACE_FLAGS, traceFlagNames } from '../../src/trace';

describe('trace flags', () => {
  it("keep the vendor's bit order, above 32 bits too", () => {
    assert.equal(TRACE_FLAGS.length, 34);
    TRACE_FLAGS.forEach(([, bit], i) => assert.equal(bit, 2 ** i));
    assert.equal(parseTraceFlags(['App WebSocket', 'app']), 0x8001);
    assert.equal(DEFAULT_TRACE_FLAGS, 0x8001);
    assert.equal(parseTraceFlags(['Webserver', 'Alarm client']), 0x300000000);
    assert.deepEqual(traceFlagNames(0x300000001), ['App', 'Alarm client', 'Webserver']);
  });

  it('round-trip between masks and names', () => {
    fc.assert(
      fc.property(fc.subarray(TRACE_FLAGS.map(([name]) => name)), (names) => {
        const mask = parseTraceFlags(names);
        assert.deepEqual(traceFlagNames(mask), names);
        assert.equal(parseTraceFlags(mask), mask);
      }),
    );
  });

  it('reject unknown names and bits', () => {
    assert.throws(() => parseTraceFlags(['Telepathy']), /unknown trace flag "Telepathy"/);
    assert.throws(() => parseTraceFlags(ALL_TRACE_BITS + 1), /not trace flags/);
    assert.throws(() => parseTraceFlags(-1), /not trace flags/);
    assert.throws(() => parseTraceFlags(0.5), /not trace flags/);
  });
});
