// The streaming bodies of the Manager API with a stand-in for uWS's response:
// a cut wakes a download waiting for the socket to drain and stops its
// producer; an upload cut mid-body fails its reader; one cut after its whole
// body arrived is read to its end.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpResponse } from 'uWebSockets.js';
import { StreamBody } from '../../src/api';
import { Exchange, streamChunks, uploadStream } from '../../src/manager/transfer';

/** What the transfer code uses of a uWS response; `accept` says whether a write fits. */
function fakeResponse(accept: () => boolean) {
  const fake = {
    written: 0,
    ended: false,
    data: null as ((chunk: ArrayBuffer, isLast: boolean) => void) | null,
    cork(fn: () => void) {
      fn();
      return fake;
    },
    writeStatus: () => fake,
    writeHeader: () => fake,
    write(chunk: Buffer) {
      fake.written += chunk.length;
      return accept();
    },
    end() {
      fake.ended = true;
      return fake;
    },
    close: () => fake,
    onWritable: () => fake, // a client that never reads: uWS never calls it
    onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void) {
      fake.data = handler;
      return fake;
    },
    pause: () => {},
    resume: () => {},
  };
  return fake;
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text)).buffer;

describe('Manager transfers', () => {
  it('wakes a download waiting for the socket to drain when the client goes away, and stops its producer', async () => {
    const res = fakeResponse(() => false);
    const state = new Exchange();
    let cancelled = false;
    let finished = false;
    async function* producer(): AsyncGenerator<Buffer> {
      try {
        for (;;) yield Buffer.alloc(1024);
      } finally {
        finished = true;
      }
    }
    const streaming = streamChunks(res as unknown as HttpResponse, state, new StreamBody(producer(), 'application/octet-stream', 'x', () => (cancelled = true)), [], () => {});
    await new Promise((r) => setImmediate(r));
    assert.equal(res.written, 1024); // one chunk out, then waiting for the drain
    state.markCut();
    await streaming;
    assert.deepEqual({ cancelled, finished, ended: res.ended }, { cancelled: true, finished: true, ended: false });
  });

  it('fails the reader of an upload cut off mid-body with "the upload was cut off"', async () => {
    const res = fakeResponse(() => true);
    const upload = uploadStream(res as unknown as HttpResponse);
    res.data!(bytes('first part'), false);
    const read = (async () => {
      const got: string[] = [];
      for await (const chunk of upload.chunks) got.push(chunk.toString());
      return got;
    })();
    await new Promise((r) => setImmediate(r));
    upload.abort();
    await assert.rejects(read, { code: 'UPLOAD_ABORTED', message: /the upload was cut off/ });
  });

  it('reads an upload to its end when the client goes away after sending all of it', async () => {
    const res = fakeResponse(() => true);
    const upload = uploadStream(res as unknown as HttpResponse);
    res.data!(bytes('all '), false);
    res.data!(bytes('of it'), true);
    upload.abort();
    const got: string[] = [];
    for await (const chunk of upload.chunks) got.push(chunk.toString());
    assert.equal(got.join(''), 'all of it');
    assert.equal(upload.complete(), true);
  });
});
