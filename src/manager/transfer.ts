// Bodies that stream through the Manager's HTTP API: downloads (with uWS
// backpressure) and uploads (paused while their consumer is behind). The
// promise of this file: whatever a request started ends when the request
// ends, however it ends — the client going away mid-stream or before the first
// byte, uWS cutting a client that stopped reading, or the supervisor stopping.
// A download's producer is cancelled (pg_dump killed); an upload's consumer
// sees an error at once (its job fails, its file is closed and deleted).
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import type { StreamBody } from '../api';
import { ApError } from '../errors';

/** One request's life: whether its answer went out, whether the client went away, and who must hear of that. */
export class Exchange {
  /** Nothing more may be written: answered, or cut off. */
  aborted = false;
  /** The client went away (or uWS cut it) before the exchange was over. */
  cut = false;
  private readonly listeners = new Set<() => void>();

  /** Calls `listener` when the client goes away (at once if it already has); returns how to stop listening. */
  onCut(listener: () => void): () => void {
    if (this.cut) {
      listener();
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** uWS said the connection is gone (res.onAborted). */
  markCut(): void {
    this.aborted = true;
    if (this.cut) return;
    this.cut = true;
    for (const listener of [...this.listeners]) listener();
    this.listeners.clear();
  }
}

/**
 * Streams a download with backpressure: the next chunk is read when uWS took
 * the last. A cut wakes a wait for the socket to drain and cancels the
 * producer even while it is waiting for its next chunk.
 */
export async function streamChunks(res: HttpResponse, state: Exchange, body: StreamBody, headers: readonly [string, string][], onSent: (bytes: number) => void): Promise<void> {
  // Any async iterable (a generator, a Readable, an array wrapped by one): its iterator is what can be stopped.
  const chunks = body.chunks[Symbol.asyncIterator]();
  const stopListening = state.onCut(() => body.cancel?.());
  try {
    if (state.aborted) return;
    res.cork(() => writeDownloadHead(res, body, headers));
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (err) {
        if (state.aborted) return; // the producer failed because it was cancelled
        // Headers are out: all we can do is cut the connection, so the client sees a broken download.
        res.close();
        throw err;
      }
      if (next.done || state.aborted) break;
      let ok = true;
      res.cork(() => (ok = res.write(next.value)));
      onSent(next.value.length);
      if (!ok) await drained(res, state);
      if (state.aborted) break;
    }
    if (!state.aborted) res.cork(() => res.end());
  } finally {
    stopListening();
    // Ends the producer's work (pg_dump is killed when it has not finished).
    await Promise.resolve(chunks.return?.(undefined)).catch(() => {});
  }
}

/** Resolves when uWS can take more, or when the client is gone (uWS never calls onWritable then). */
function drained(res: HttpResponse, state: Exchange): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = state.onCut(resolve);
    res.onWritable(() => {
      stop();
      resolve();
      return true;
    });
  });
}

/** An upload as it arrives. */
export interface Upload {
  readonly chunks: AsyncIterable<Buffer>;
  /** Resolves when the whole body arrived, the client went away, or the consumer stopped reading. */
  readonly settled: Promise<void>;
  /** Whether the body arrived whole (so the connection can stay open after the answer). */
  readonly complete: () => boolean;
  /** Stops taking bytes; a consumer still reading gets `reason`. */
  abort(reason?: ApError): void;
}

/** The client cut the upload off: what its job says. */
export function cutOff(): ApError {
  return new ApError('UPLOAD_ABORTED', 'the upload was cut off: the client went away before sending the whole body');
}

/** Reads an upload as its consumer takes it; the socket pauses while more than 1 MiB waits. */
export function uploadStream(res: HttpResponse): Upload {
  const queue: Buffer[] = [];
  let queued = 0;
  let done = false;
  let failure: ApError | null = null;
  let paused = false;
  let wake: (() => void) | null = null;
  let settle: () => void = () => {};
  const settled = new Promise<void>((resolve) => (settle = resolve));
  res.onData((chunk, isLast) => {
    if (failure) return; // refused or cut off: nothing more is kept
    const copy = Buffer.from(chunk.slice(0));
    if (copy.length) {
      queue.push(copy);
      queued += copy.length;
    }
    if (isLast) {
      done = true;
      settle();
    }
    if (queued > 1024 * 1024 && !paused && !done) {
      paused = true;
      res.pause();
    }
    wake?.();
  });
  const chunks: AsyncIterable<Buffer> = {
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (failure) throw failure;
          const next = queue.shift();
          if (next) {
            queued -= next.length;
            if (paused && queued < 256 * 1024) {
              paused = false;
              res.resume();
            }
            yield next;
            continue;
          }
          if (done) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
      } finally {
        // The consumer stopped (failed, or had enough) before the end: nothing more is read.
        if (!done) {
          failure ??= new ApError('UPLOAD_ABORTED', 'the upload was not read to its end');
          queue.length = 0;
          settle();
        }
      }
    },
  };
  return {
    chunks,
    settled,
    complete: () => done,
    abort(reason = cutOff()) {
      if (done) return; // the whole body is in: its job goes on, even if the client no longer waits for the answer
      failure ??= reason;
      queue.length = 0;
      settle();
      wake?.();
    },
  };
}

/** uWS takes no Content-Length above this: it drops such a connection unanswered (after our handler ran). */
export const MAX_UPLOAD = 999_999_999;

/**
 * The declared size of an upload, checked before anything starts: one
 * Content-Length of digits (or none: chunked), at most `max` and MAX_UPLOAD bytes.
 * Reads the headers synchronously (uWS's req is only valid in the handler).
 */
export function checkUploadLength(req: HttpRequest, max: number, what = 'the upload'): ApError | null {
  const values: string[] = [];
  req.forEach((key, value) => {
    if (key === 'content-length') values.push(value.trim());
  });
  if (values.length === 0) return null;
  if (values.length > 1 || !/^\d{1,15}$/.test(values[0]!)) return new ApError('BAD_REQUEST', 'the request needs one Content-Length: a whole number of bytes');
  const length = Number(values[0]);
  const limit = Math.min(max, MAX_UPLOAD);
  if (length > limit) return new ApError('UPLOAD_TOO_LARGE', `${what} (${length} bytes) is larger than the ${limit} bytes this route takes now`);
  return null;
}

function writeDownloadHead(res: HttpResponse, body: StreamBody, headers: readonly [string, string][]): HttpResponse {
  res.writeStatus('200 OK');
  for (const [k, v] of headers) res.writeHeader(k, v);
  return res.writeHeader('Content-Type', body.contentType).writeHeader('Content-Disposition', `attachment; filename="${body.filename.replace(/["\\\r\n]/g, '_')}"`);
}

/**
 * HEAD of a download: its headers without making it (a backup would run
 * pg_dump in full only to be thrown away; its length is known only once made).
 */
export async function downloadHeadOnly(res: HttpResponse, state: Exchange, body: StreamBody, headers: readonly [string, string][]): Promise<void> {
  body.cancel?.();
  await Promise.resolve(body.chunks[Symbol.asyncIterator]().return?.(undefined)).catch(() => {});
  if (!state.aborted) res.cork(() => writeDownloadHead(res, body, headers).endWithoutBody());
}
