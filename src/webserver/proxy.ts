// HTTP requests to an instance, streamed both ways over its service's channel.
// Upload chunks go out as they arrive (uWS pauses the client while the channel
// is full); response chunks go to the client with uWS backpressure, and the
// service is paused while the client is slow. Nothing holds a whole body.
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ChannelError, decodeJson, Kind, type Frame } from '../channel';
import { COOKIE } from '../origin';
import { reply, statusLine } from './reply';
import type { Route } from './routes';
import { FLOOD_LIMIT, UPLOAD_BUDGET, type Upstream } from './upstream';

export interface ProxyLimits {
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly requestTimeoutMs: number;
}

/** A service's next process once it runs; 'stopped' when it will not come back (stopped, failed); null when not within `ms`. */
export type NextProcess = (service: string, ms: number) => Promise<Upstream | 'stopped' | null>;

/** Request bodies held while their service is between two processes, per request and in all. */
export const HOLD_BODY = 1024 * 1024;
export const HOLD_TOTAL = 8 * 1024 * 1024;
/** The longest a request waits for the next process. */
export const HOLD_MS = 10_000;
const held = { bytes: 0 };

/** Headers we never pass from a service to the client: uWS frames the response itself. */
const HOP_BY_HOP = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'date', 'uwebsockets']);

/** Copies what the request head holds; uWS's `req` is only valid during the handler. */
export function readHead(res: HttpResponse, req: HttpRequest, instance: string) {
  const headers: Record<string, string> = {};
  let size = 0;
  req.forEach((name, value) => {
    size += name.length + value.length + 4;
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  });
  return {
    size,
    method: req.getMethod().toUpperCase(),
    url: req.getUrl(),
    query: req.getQuery() ?? '',
    headers,
    instance,
    remote: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
}

/** Requests proxied to services: open now, and all since start (for the metrics). */
export const httpStats = { open: 0, total: 0 };

/** Proxies one request to `upstream`, or to its next process when it is between two; synchronous part of the uWS handler. */
export function proxyHttp(res: HttpResponse, req: HttpRequest, route: Route, upstream: Upstream | undefined, limits: ProxyLimits, next?: NextProcess): void {
  const { size, ...head } = readHead(res, req, route.instance);
  // uWS bounds a request head only when it spans several reads; we bound it always.
  if (size > limits.maxHeaderBytes) return reply(res, 431, `request headers larger than ${limits.maxHeaderBytes} bytes\n`, { Connection: 'close' });
  const maxBody = route.maxBodyBytes ?? limits.maxBodyBytes;
  const declared = Number(head.headers['content-length'] ?? 0);
  if (declared > maxBody) return reply(res, 413, `request body larger than ${maxBody} bytes\n`, { Connection: 'close' });
  if (startExchange(res, head, upstream, maxBody, limits)) return;
  const back = upstream && ['starting', 'backing-off', 'stopping'].includes(upstream.state);
  if (!back || !next) return unavailable(res, route, false);
  // A body that may not wait whole is not waited for (its bytes are not read).
  if (declared > HOLD_BODY) return unavailable(res, route, true, true);
  holdForNext(res, route, head, maxBody, limits, next);
}

type Head = Record<string, unknown> & { readonly method: string };

/** Sends `head` to `upstream` on a new stream and follows the exchange; null when the service takes no stream now (not running). */
function startExchange(res: HttpResponse, head: Head, upstream: Upstream | null | undefined, maxBody: number, limits: ProxyLimits): Exchange | null {
  if (!upstream) return null;
  const exchange = new Exchange(res, head.method, upstream, maxBody);
  const stream = upstream.openStream(exchange);
  if (stream === null) return null;
  exchange.begin(stream, limits.requestTimeoutMs);
  upstream.send(Kind.HTTP_HEAD, stream, Buffer.from(JSON.stringify(head)));
  return exchange;
}

/** 503: the service is between two processes (come back in a second), or not running. */
function unavailable(res: HttpResponse, route: Route, restarting: boolean, close = false): void {
  if (restarting) reply(res, 503, `the service of ${route.instance} is restarting\n`, { 'Retry-After': '1' }, close);
  else reply(res, 503, `the service of ${route.instance} is not running\n`, {}, close);
}

/**
 * A request that arrives between two processes of its service (a restart, an
 * update, a crash) waits for the next one, as WebSocket messages do: its body
 * is held (bounded, per request and in all), and the new process gets it
 * whole. One that cannot wait (too much body, too long, the service stopped
 * for good) is told to come back in a second.
 */
function holdForNext(res: HttpResponse, route: Route, head: Head, maxBody: number, limits: ProxyLimits, next: NextProcess): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  let settled = false;
  const release = () => {
    held.bytes -= bytes;
    bytes = 0;
  };
  const refuse = (close: boolean, stopped = false) => {
    settled = true;
    release();
    unavailable(res, route, !stopped, close);
  };
  res.onAborted(() => {
    settled = true;
    release();
  });
  // Registered now: uWS hands a body (or a bodiless request's end) only to a handler set in the request's own handler.
  res.onData((chunk, isLast) => {
    if (settled) return;
    if (bytes + chunk.byteLength > HOLD_BODY || held.bytes + chunk.byteLength > HOLD_TOTAL) return refuse(!isLast);
    bytes += chunk.byteLength;
    held.bytes += chunk.byteLength;
    if (chunk.byteLength > 0) chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast) ended = true;
  });
  void next(route.service, Math.min(HOLD_MS, limits.requestTimeoutMs)).then((found) => {
    if (settled) return;
    res.cork(() => {
      const exchange = startExchange(res, head, found === 'stopped' ? null : found, maxBody, limits);
      if (!exchange) return refuse(!ended, found === 'stopped');
      settled = true;
      release();
      exchange.replay(chunks, ended);
    });
  });
}

/** One request/response pair in flight. Our state; never properties on uWS objects. */
class Exchange {
  private stream = 0;
  private done = false;
  private responded = false;
  private timer: NodeJS.Timeout | undefined;
  private received = 0;
  // Upload gate. uWS's pause() stops a socket both ways, so the upload is held
  // only while no response bytes wait for the socket to become writable;
  // otherwise a full-duplex exchange (an echo) would deadlock.
  private channelFull = false;
  private serviceAskedPause = false;
  private responseWaiting = false;
  private uploadHeld = false;
  // Response side.
  private total: number | null = null;
  private pausedService = false;
  private floodBytes = 0;
  private pending: { data: Buffer; base: number } | null = null;
  private queue: Buffer[] = [];
  private endRequested = false;

  constructor(
    private readonly res: HttpResponse,
    private readonly method: string,
    private readonly upstream: Upstream | undefined,
    private readonly maxBody: number,
  ) {}

  begin(stream: number, timeoutMs: number): void {
    this.stream = stream;
    httpStats.open++;
    httpStats.total++;
    this.res.onAborted(() => {
      // The client went away: tell the service, forget the response.
      if (this.done) return;
      this.finish();
      this.upstream!.send(Kind.ABORT, this.stream);
    });
    this.res.onData((chunk, isLast) => this.upload(chunk, isLast));
    this.timer = setTimeout(() => {
      if (this.responded || this.done) return;
      this.fail(504, 'the service did not answer in time\n');
    }, timeoutMs);
  }

  /** What arrived of the body while the request waited for its process (holdForNext), as if it came now. */
  replay(chunks: readonly Buffer[], ended: boolean): void {
    for (const chunk of chunks) this.upload(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer, false);
    if (ended) this.upload(new ArrayBuffer(0), true);
  }

  private upload(chunk: ArrayBuffer, isLast: boolean): void {
    if (this.done) return;
    this.received += chunk.byteLength;
    if (this.received > this.maxBody) return this.fail(413, `request body larger than ${this.maxBody} bytes\n`, true);
    // uWS reuses `chunk` after we return: copy it.
    if (chunk.byteLength > 0) this.upstream!.send(Kind.HTTP_BODY, this.stream, Buffer.from(chunk.slice(0)));
    if (isLast) this.upstream!.send(Kind.HTTP_END, this.stream);
    else if (this.upstream!.queued > UPLOAD_BUDGET) {
      this.channelFull = true;
      this.gate();
    }
  }

  /** Holds or releases the client's upload after any change of the conditions. */
  private gate(): void {
    if (this.done) return;
    const hold = (this.channelFull || this.serviceAskedPause) && !this.responseWaiting;
    if (hold === this.uploadHeld) return;
    this.uploadHeld = hold;
    if (hold) this.res.pause();
    else this.res.resume();
  }

  // --- StreamHandler: what the service sends on our stream ---

  frame(frame: Frame): void {
    if (this.done) return;
    switch (frame.kind) {
      case Kind.HTTP_RESPONSE:
        return this.head(frame);
      case Kind.HTTP_RESPONSE_BODY:
        if (!this.responded) throw new ChannelError(`response body before head on stream ${this.stream}`);
        return this.body(frame.payload);
      case Kind.HTTP_RESPONSE_END:
        if (!this.responded) throw new ChannelError(`response end before head on stream ${this.stream}`);
        this.endRequested = true;
        return this.flush();
      case Kind.ABORT:
        return this.fail(502, 'the service aborted the request\n', this.responded);
      case Kind.PAUSE:
      case Kind.RESUME:
        this.serviceAskedPause = frame.kind === Kind.PAUSE;
        return this.gate();
      default:
        throw new ChannelError(`frame kind 0x${frame.kind.toString(16)} on HTTP stream ${this.stream}`);
    }
  }

  drain(): void {
    if (this.channelFull) {
      this.channelFull = false;
      this.gate();
    }
  }

  gone(reason: string): void {
    if (!this.done) this.fail(502, `${reason}\n`, this.responded);
  }

  private head(frame: Frame): void {
    if (this.responded) throw new ChannelError(`second response head on stream ${this.stream}`);
    const head = decodeJson(frame);
    const status = head.status;
    const headers = head.headers ?? {};
    if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599) throw new ChannelError(`bad response status ${String(status)}`);
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw new ChannelError('response headers must be an object');
    this.responded = true;
    clearTimeout(this.timer);
    const length = (headers as Record<string, unknown>)['content-length'];
    if (length !== undefined && /^\d{1,15}$/.test(String(length))) this.total = Number(length);
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status as number));
      for (const [name, values] of Object.entries(headers as Record<string, unknown>)) {
        if (HOP_BY_HOP.has(name.toLowerCase())) continue;
        // A list: a header sent several times (set-cookie, which may not be folded into one line).
        for (const value of Array.isArray(values) ? values : [values]) {
          const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
          if (typeof text !== 'string' || /[\r\n]/.test(name + text) || setsManagerCookie(name, text)) continue;
          this.res.writeHeader(name, text);
        }
      }
    });
  }

  private body(data: Buffer): void {
    if (data.length === 0) return;
    if (this.pending || this.queue.length > 0) {
      // The client is slow and the service was asked to pause; it may still have a little in flight.
      this.queue.push(data);
      this.floodBytes += data.length;
      if (this.floodBytes > FLOOD_LIMIT) this.upstream!.cutOffFor(`ignored PAUSE on HTTP stream ${this.stream}`);
      return;
    }
    this.write(data);
  }

  /** Writes one chunk to the client; false (and waiting for onWritable) under backpressure. */
  private write(data: Buffer): boolean {
    // A write to a paused uWS socket that cannot complete never gets onWritable
    // after resume(): release the upload before writing, hold it again after.
    if (this.uploadHeld) {
      this.uploadHeld = false;
      this.res.resume();
    }
    let ok = true;
    this.res.cork(() => {
      if (this.method === 'HEAD') return;
      if (this.total === null) {
        ok = this.res.write(data); // uWS keeps the chunk even when it reports backpressure
        if (!ok) this.waitWritable(null);
        return;
      }
      const base = this.res.getWriteOffset();
      const [sent, finished] = this.res.tryEnd(data, this.total);
      if (finished) return this.finish();
      if (!sent) {
        ok = false;
        this.waitWritable({ data, base });
      }
    });
    if (ok) this.gate();
    return ok;
  }

  private waitWritable(pending: { data: Buffer; base: number } | null): void {
    this.pending = pending ?? { data: Buffer.alloc(0), base: -1 };
    this.responseWaiting = true;
    this.gate();
    if (!this.pausedService) {
      this.pausedService = true;
      this.upstream!.send(Kind.PAUSE, this.stream);
    }
    this.res.onWritable((offset) => {
      if (this.done) return true;
      const current = this.pending;
      if (current && current.base >= 0) {
        const [sent, finished] = this.res.tryEnd(current.data.subarray(offset - current.base), this.total!);
        if (finished) {
          this.finish();
          return true;
        }
        if (!sent) return false;
      }
      this.pending = null;
      this.flush();
      // Tell uWS whether our writes went through; if not, it calls again when writable.
      return this.pending === null;
    });
  }

  /** Sends what queued up while the client was slow; then resumes the service or ends the response. */
  private flush(): void {
    if (this.done || this.pending) return;
    while (this.queue.length > 0) {
      if (!this.write(this.queue.shift()!)) return;
      if (this.done) return;
    }
    this.floodBytes = 0;
    this.responseWaiting = false;
    this.gate();
    if (this.pausedService && !this.endRequested) {
      this.pausedService = false;
      this.upstream!.send(Kind.RESUME, this.stream);
    }
    if (this.endRequested) {
      this.res.cork(() => {
        if (this.method === 'HEAD') this.res.endWithoutBody(this.total ?? undefined);
        else if (this.total === null) this.res.end();
        else this.res.close(); // the service sent fewer bytes than its Content-Length: the client must not wait
      });
      this.finish();
    }
  }

  /** Ends the exchange with our own status, or by closing a response already under way. */
  private fail(status: number, text: string, closeConnection = false): void {
    const abort = !this.done && this.stream !== 0;
    if (!this.done) {
      this.res.cork(() => {
        if (this.responded) this.res.close();
        else reply(this.res, status, text, closeConnection ? { Connection: 'close' } : {});
      });
    }
    this.finish();
    if (abort && status !== 502) this.upstream!.send(Kind.ABORT, this.stream);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    httpStats.open--;
    clearTimeout(this.timer);
    this.queue = [];
    this.pending = null;
    this.upstream!.closeStream(this.stream);
  }
}

/**
 * Whether a response header would set the Manager's session cookie. Cookies
 * do not tell ports apart, so an app's answer could otherwise log the
 * administrator out or plant a session; it never may.
 */
export function setsManagerCookie(name: string, value: string): boolean {
  if (name.toLowerCase() !== 'set-cookie') return false;
  // A service may fold several cookies into one value: look at each name.
  return value.split(/,(?=\s*[^;=,\s]+\s*=)/).some((cookie) => cookie.split('=')[0]!.trim().toLowerCase() === COOKIE.toLowerCase());
}
