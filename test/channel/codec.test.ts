import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ChannelError, decodeClose, decodeJson, encodeClose, encodeFrame, FrameDecoder, HEADER_SIZE, Kind, type Frame } from '../../src/channel';

const KINDS = Object.values(Kind);
const EMPTY_ONLY: number[] = [Kind.PAUSE, Kind.RESUME, Kind.HTTP_END, Kind.HTTP_RESPONSE_END];

/** A valid frame: any kind, a stream that fits it, a payload the kind allows. */
const frameArb = fc
  .record({
    kind: fc.constantFrom(...KINDS),
    stream: fc.integer({ min: 1, max: 0xffff_ffff }),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .map(({ kind, stream, payload }) => ({
    kind,
    stream: kind === Kind.CONTROL ? 0 : stream,
    payload: Buffer.from(EMPTY_ONLY.includes(kind) ? [] : kind === Kind.WS_CLOSE && payload.length === 1 ? [] : payload),
  }));

/** Splits `bytes` at random cut points. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    parts.push(bytes.subarray(last, p));
    last = p;
  }
  parts.push(bytes.subarray(last));
  return parts;
}

const plain = (f: Frame) => ({ kind: f.kind, stream: f.stream, payload: Buffer.from(f.payload) });

describe('channel codec', () => {
  it('round-trips any sequence of frames, however the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.kind, f.stream, f.payload)));
        const decoder = new FrameDecoder();
        const out = split(bytes, cuts).flatMap((part) => decoder.push(part));
        assert.deepEqual(out.map(plain), frames);
        assert.equal(decoder.buffered, 0);
      }),
      { numRuns: 500 },
    );
  });

  it('yields nothing for a truncated frame and the rest once it completes', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), (frame, at) => {
        const bytes = encodeFrame(frame.kind, frame.stream, frame.payload);
        const cut = at % bytes.length; // strictly inside the frame
        const decoder = new FrameDecoder();
        assert.deepEqual(decoder.push(bytes.subarray(0, cut)), []);
        assert.equal(decoder.buffered, cut);
        assert.deepEqual(decoder.push(bytes.subarray(cut)).map(plain), [frame]);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws anything but ChannelError on random bytes, and stays broken after one', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const decoder = new FrameDecoder(1024);
        let failed: unknown = null;
        for (const chunk of chunks) {
          try {
            const frames = decoder.push(Buffer.from(chunk));
            for (const f of frames) assert.ok(KINDS.includes(f.kind) && (f.kind === Kind.CONTROL) === (f.stream === 0));
          } catch (err) {
            assert.ok(err instanceof ChannelError, `threw ${String(err)}`);
            failed = err;
            break;
          }
        }
        if (failed) assert.throws(() => decoder.push(encodeFrame(Kind.PAUSE, 1)), ChannelError);
      }),
      { numRuns: 1000 },
    );
  });

  const malformed: [string, Buffer, RegExp][] = [
    ['a length shorter than the header', Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]), /shorter than its header/],
    ['an unknown kind', encodeFrame(0x7f as Kind, 1), /unknown frame kind 0x7f/],
    ['a control frame on a stream', encodeFrame(Kind.CONTROL, 3, '{}'), /control frame on stream 3/],
    ['a data frame on stream 0', encodeFrame(Kind.WS_TEXT, 0, 'hi'), /on stream 0/],
    ['a payload on an empty-only kind', encodeFrame(Kind.PAUSE, 1, 'x'), /must be empty/],
    ['a 1-byte close', encodeFrame(Kind.WS_CLOSE, 1, Buffer.from([3])), /1 byte/],
  ];
  for (const [what, bytes, message] of malformed) {
    it(`rejects ${what}`, () => {
      assert.throws(() => new FrameDecoder().push(bytes), (err: unknown) => err instanceof ChannelError && message.test(err.message));
    });
  }

  it('rejects an oversized frame from its header alone, before buffering the payload', () => {
    const decoder = new FrameDecoder(1000);
    const header = encodeFrame(Kind.WS_BINARY, 1, Buffer.alloc(1001)).subarray(0, HEADER_SIZE);
    assert.throws(() => decoder.push(header), /exceeds the limit of 1000/);
  });

  it('encodes close codes and reasons, and JSON objects only', () => {
    assert.deepEqual(decodeClose(encodeClose(1013, 'try again later')), { code: 1013, reason: 'try again later' });
    assert.deepEqual(decodeClose(Buffer.alloc(0)), { code: 1005, reason: '' });
    assert.equal(encodeClose(1000, 'x'.repeat(500)).length, 125);
    const frame = (text: string): Frame => ({ kind: Kind.CONTROL, stream: 0, payload: Buffer.from(text) });
    assert.deepEqual(decodeJson(frame('{"type":"hello"}')), { type: 'hello' });
    assert.throws(() => decodeJson(frame('[1]')), ChannelError);
    assert.throws(() => decodeJson(frame('{"a":')), ChannelError);
  });
});
