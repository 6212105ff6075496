// The app-service SDK: what a TypeScript service imports to serve HTTP and
// WebSockets for its instances over the supervisor's channel (fd 3). Request
// bodies are Readable streams and responses Writable streams with the channel's
// backpressure behind them; WebSocket connections have send/close and
// pause/resume. When the channel closes, the supervisor is gone: the service exits.
import { Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { Channel, ChannelError, decodeClose, decodeJson, encodeClose, Kind, MIN_MAX_PAYLOAD, type Frame } from '../channel';
import type { Instance as InstanceRecord } from '../records';
import { hasBit, TRACE_FLAGS, type TraceFlag } from '../trace';

export type { TraceFlag };

/** Where an instance's database is: the box's cluster over its Unix socket, or an external host. */
export interface InstanceDatabase {
  /** A socket folder (absolute path), or a host name or address: IPv6 without brackets, the port apart (docs/channel.md shows how to hand it to postgres.js). */
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly user: string;
  readonly password: string;
  /** disable for the local socket; prefer (use TLS when the server offers it) for an external host, as the seed says. */
  readonly sslmode: 'disable' | 'prefer';
}

/**
 * What instance.start and instance.config carry (the vendor's --app-name,
 * --app-domain, --app-password, --webserver-path, --db-*): the instance
 * record's name, domain, path (its webserver path), password (PBX App objects
 * log in with it; the supervisor checks the login) and traceFlags (the vendor's
 * bitmask: App 0x1, App WebSocket 0x8000, …; see traces()), and its database.
 * The first four are strings, traceFlags an integer: the fields of the record
 * in src/records, taken from there so the two cannot differ.
 */
export interface Instance extends Readonly<Pick<InstanceRecord, 'name' | 'domain' | 'path' | 'password' | 'traceFlags'>> {
  readonly database: InstanceDatabase;
  readonly [key: string]: unknown;
}

/** Whether `instance` has trace flag `flag` (the seed's names: "App", "Database", "App WebSocket", …) set. */
export function traces(instance: Pick<Instance, 'traceFlags'>, flag: TraceFlag): boolean {
  const bit = TRACE_FLAGS.find(([name]) => name === flag)?.[1];
  return bit !== undefined && hasBit(instance.traceFlags, bit);
}

export interface Request extends Readable {
  readonly method: string;
  /** Path of the URL, as the client sent it. */
  readonly url: string;
  readonly query: string;
  /** Header names in lowercase. */
  readonly headers: Readonly<Record<string, string>>;
  /** The instance's id, `name@domain` (the key of Service.instances), or null. */
  readonly instance: string | null;
  readonly remote: string;
  /** True once the client went away. */
  readonly aborted: boolean;
}

export interface Response extends Writable {
  /** Sends status and headers (a list for a header sent several times, such as set-cookie); the first write or end sends 200 with no headers if not called. */
  writeHead(status: number, headers?: Record<string, string | number | readonly string[]>): void;
}

export interface Connection {
  readonly id: number;
  readonly url: string;
  readonly query: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The instance's id, `name@domain` (the key of Service.instances), or null. */
  readonly instance: string | null;
  readonly remote: string;
  /** Who logged in (the PBX login: app, domain, sip, guid, dn, info), or null for services without the login. */
  readonly identity: Readonly<{ app: string; domain: string; sip: string; guid: string; dn: string; info: Record<string, unknown> | null }> | null;
  /** The login's session key (hex SHA-256 of innovaphoneAppSessionKey:<challenge>:<password>), or null. */
  readonly sessionKey: string | null;
  /**
   * Sends a message; false when the client is slow (wait for onDrain). A
   * message larger than the supervisor takes in one frame (AP_CHANNEL_MAX_PAYLOAD:
   * 1 MiB, or --ws-max-payload when larger) throws a RangeError and is not sent.
   */
  send(data: string | Uint8Array): boolean;
  close(code?: number, reason?: string): void;
  /** Asks the supervisor to hold this client's messages for now. */
  pause(): void;
  resume(): void;
  onDrain?: () => void;
}

/**
 * What a service does. A handler may return a promise: when the supervisor
 * stops this process (a restart, an update, a stop), the SDK waits for every
 * promise a handler returned and has not settled, and for `stop`, before the
 * process exits, so an answer being worked on still reaches its client. A
 * handler that throws, or whose promise rejects, ends the process as an
 * uncaught exception does (exit code 1, the error in the service's log), and
 * the supervisor starts it again.
 */
export interface ServiceHandlers {
  http?(req: Request, res: Response): void | Promise<unknown>;
  websocket?: {
    open?(conn: Connection): void | Promise<unknown>;
    message?(conn: Connection, data: string | Buffer): void | Promise<unknown>;
    close?(conn: Connection, code: number, reason: string): void | Promise<unknown>;
  };
  instanceStart?(instance: Instance): void | Promise<unknown>;
  /** An instance stopped (or deleted): it gets the instance as instance.start or the last instance.config gave it. */
  instanceStop?(instance: Instance): void | Promise<unknown>;
  instanceConfig?(instance: Instance): void | Promise<unknown>;
  /**
   * The supervisor stops this process: every message and request it was sent
   * has been handed to the handlers, and nothing new comes (its clients wait
   * for the next process). Called once the promises the handlers returned have
   * settled: end what is left (a database pool, a file); the process exits
   * when this settles, or is killed at the supervisor's stop timeout.
   */
  stop?(): void | Promise<unknown>;
}

/** An instance's id, `name@domain`: what `Request.instance` and `Connection.instance` carry. */
export function instanceId(instance: Pick<Instance, 'name' | 'domain'>): string {
  return `${instance.name}@${instance.domain}`;
}

export interface Service {
  log(level: 'error' | 'warn' | 'info' | 'debug', message: string): void;
  /**
   * The running instances by id, `name@domain` (instanceId()), so that
   * `instances.get(req.instance)` finds a request's instance; one service may
   * serve same-named instances of several domains.
   */
  readonly instances: ReadonlyMap<string, Instance>;
  /** HTTP requests and WebSockets the SDK holds open now (a leak shows here first). */
  openStreams(): { http: number; websockets: number };
}

const SDK_VERSION = 2;

/** Connects to the supervisor on fd 3, reports ready, and serves `handlers`. */
export function createService(handlers: ServiceHandlers, fd = Number(process.env.AP_CHANNEL_FD ?? 3)): Service {
  const socket = new Socket({ fd, readable: true, writable: true });
  // A frame over the supervisor's limit would get the whole service cut off.
  const maxPayload = Math.max(Number(process.env.AP_CHANNEL_MAX_PAYLOAD) || 0, MIN_MAX_PAYLOAD);
  const instances = new Map<string, Instance>();
  const requests = new Map<number, { req: RequestStream; res: ResponseStream }>();
  const connections = new Map<number, WsConnection>();
  const waiting = new Set<() => void>();
  /** Promises handlers returned that have not settled: a stop waits for them. */
  const pending = new Set<Promise<unknown>>();
  let stopping = false;

  /** Runs a handler's answer: a promise is waited for at a stop; its failure is the service's own, as a throw would be. */
  const track = (result: void | Promise<unknown>): void => {
    if (!(result instanceof Promise)) return;
    pending.add(result);
    const settled = () => void pending.delete(result);
    result.then(settled, (err: unknown) => {
      settled();
      throw err;
    });
  };

  const channel: Channel = new Channel(socket, {
    frame: (frame) => {
      try {
        onFrame(frame);
      } catch (err) {
        if (err instanceof ChannelError) throw err; // the supervisor broke the channel
        // A handler's own throw ends the process as an uncaught exception (its stack on stderr, exit code 1), as its rejected promise does: not quietly as a closed channel.
        process.nextTick(() => {
          throw err;
        });
      }
    },
    drain: () => {
      for (const wake of [...waiting]) wake();
      for (const conn of connections.values()) conn.channelDrained();
    },
    close: () => process.exit(0), // the supervisor is gone, and so are our clients
  });

  /** Sends, or holds the caller until the channel drains. */
  const sendOrWait = (kind: Kind, stream: number, payload: Uint8Array | undefined, done: () => void) => {
    if (channel.send(kind, stream, payload)) return done();
    const wake = () => {
      waiting.delete(wake);
      done();
    };
    waiting.add(wake);
  };

  function onFrame(frame: Frame): void {
    const { kind, stream, payload } = frame;
    switch (kind) {
      case Kind.CONTROL:
        return onControl(decodeJson(frame));
      case Kind.HTTP_HEAD: {
        const head = decodeJson(frame);
        const req = new RequestStream(stream, head, channel);
        const res = new ResponseStream(stream, channel, sendOrWait);
        requests.set(stream, { req, res });
        res.once('finish', () => requests.delete(stream));
        if (handlers.http) track(handlers.http(req, res));
        else {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('this service serves no HTTP\n');
        }
        return;
      }
      case Kind.HTTP_BODY:
        requests.get(stream)?.req.deliver(payload);
        return;
      case Kind.HTTP_END:
        requests.get(stream)?.req.deliver(null);
        return;
      case Kind.WS_OPEN: {
        const conn = new WsConnection(stream, payload, decodeJson(frame), channel, maxPayload);
        connections.set(stream, conn);
        track(handlers.websocket?.open?.(conn));
        return;
      }
      case Kind.WS_TEXT:
      case Kind.WS_BINARY: {
        const conn = connections.get(stream);
        if (conn) track(handlers.websocket?.message?.(conn, kind === Kind.WS_TEXT ? payload.toString('utf8') : Buffer.from(payload)));
        return;
      }
      case Kind.WS_CLOSE: {
        const conn = connections.get(stream);
        if (!conn) return;
        connections.delete(stream);
        conn.closed = true;
        const { code, reason } = decodeClose(payload);
        track(handlers.websocket?.close?.(conn, code, reason));
        return;
      }
      case Kind.PAUSE:
        requests.get(stream)?.res.setPaused(true);
        connections.get(stream)?.setPaused(true);
        return;
      case Kind.RESUME:
        requests.get(stream)?.res.setPaused(false);
        connections.get(stream)?.setPaused(false);
        return;
      case Kind.ABORT: {
        const entry = requests.get(stream);
        if (entry) {
          requests.delete(stream);
          entry.req.abort();
          entry.res.destroy();
        }
        return;
      }
      default:
        return; // response kinds never come this way; ignore
    }
  }

  function onControl(message: Record<string, unknown>): void {
    const instance = message as unknown as Instance;
    switch (message.type) {
      case 'instance.start':
        instances.set(instanceId(instance), instance);
        track(handlers.instanceStart?.(instance));
        return;
      case 'instance.stop': {
        // instance.stop names it only: the handler gets it as it was started (its database, to close the pool).
        const started = instances.get(instanceId(instance));
        if (!started) return;
        instances.delete(instanceId(instance));
        track(handlers.instanceStop?.(started));
        return;
      }
      case 'instance.config':
        instances.set(instanceId(instance), instance);
        track(handlers.instanceConfig?.(instance));
        return;
      case 'ping':
        channel.sendControl({ type: 'pong' });
        return;
      case 'stop':
        void stop();
        return;
      case 'gc':
        // Measurements only: the supervisor asks when it runs with --expose-gc, and so do we.
        (globalThis as { gc?: () => void }).gc?.();
        return;
      default:
        return;
    }
  }

  /** Every frame before `stop` has been dispatched (the channel is in order): wait for the work in flight, send the last answers, exit. */
  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    // A settled promise may have started more (a close handler, a reply's follow-up): wait until none is left.
    const settle = async () => {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    };
    await settle();
    // Then the service's own: what it closes there (a database pool) no handler needs any more.
    track(handlers.stop?.());
    await settle();
    await channel.finish();
    process.exit(0);
  }

  // "stop": this SDK answers the control stop by finishing and exiting (docs/channel.md).
  channel.sendControl({ type: 'hello', sdk: SDK_VERSION, pid: process.pid, features: ['stop'] });
  channel.sendControl({ type: 'ready' });
  return {
    instances,
    log: (level, message) => void channel.sendControl({ type: 'log', level, message }),
    openStreams: () => ({ http: requests.size, websockets: connections.size }),
  };
}

class RequestStream extends Readable implements Request {
  readonly method: string;
  readonly url: string;
  readonly query: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly instance: string | null;
  readonly remote: string;
  aborted = false;
  private paused = false;

  constructor(
    private readonly stream: number,
    head: Record<string, unknown>,
    private readonly channel: Channel,
  ) {
    super({ highWaterMark: 256 * 1024 });
    this.method = String(head.method ?? 'GET');
    this.url = String(head.url ?? '/');
    this.query = String(head.query ?? '');
    this.headers = Object.freeze({ ...(head.headers as Record<string, string>) });
    this.instance = typeof head.instance === 'string' ? head.instance : null;
    this.remote = String(head.remote ?? '');
  }

  /** A body chunk (or null at its end) from the supervisor. */
  deliver(chunk: Buffer | null): void {
    if (!this.push(chunk) && chunk !== null && !this.paused) {
      this.paused = true; // our reader is slow: ask the supervisor to hold the upload
      this.channel.send(Kind.PAUSE, this.stream);
    }
  }

  abort(): void {
    this.aborted = true;
    this.emit('aborted');
    // No error: an unheard 'error' event would crash the service for a client's whim.
    this.destroy();
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      this.channel.send(Kind.RESUME, this.stream);
    }
  }
}

type SendOrWait = (kind: Kind, stream: number, payload: Uint8Array | undefined, done: () => void) => void;

class ResponseStream extends Writable implements Response {
  private headSent = false;
  private status = 200;
  private headers: Record<string, string | string[]> = {};
  private paused = false;
  private resumeWaiter: (() => void) | null = null;

  constructor(
    private readonly stream: number,
    private readonly channel: Channel,
    private readonly sendOrWait: SendOrWait,
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  writeHead(status: number, headers: Record<string, string | number | readonly string[]> = {}): void {
    if (this.headSent) throw new Error('writeHead after the head was sent');
    this.status = status;
    this.headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.map(String) : String(v)]));
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused && this.resumeWaiter) {
      const wake = this.resumeWaiter;
      this.resumeWaiter = null;
      wake();
    }
  }

  private sendHead(): void {
    if (this.headSent) return;
    this.headSent = true;
    this.channel.send(Kind.HTTP_RESPONSE, this.stream, Buffer.from(JSON.stringify({ status: this.status, headers: this.headers })));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sendHead();
    // A chunk larger than every receiver takes leaves in pieces (subarrays: no copy).
    let offset = 0;
    const go = (): void => {
      const piece = chunk.subarray(offset, offset + MIN_MAX_PAYLOAD);
      offset += piece.length;
      this.sendOrWait(Kind.HTTP_RESPONSE_BODY, this.stream, piece, offset < chunk.length ? next : () => callback());
    };
    const next = (): void => {
      if (this.paused) this.resumeWaiter = go;
      else go();
    };
    next();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sendHead();
    this.sendOrWait(Kind.HTTP_RESPONSE_END, this.stream, undefined, () => callback());
  }
}

/** The last connection whose open fields were read, parsed (see WsConnection.raw). */
let lastHead: { conn: WsConnection | null; head: Record<string, unknown> } = { conn: null, head: {} };

class WsConnection implements Connection {
  closed = false;
  private paused = false;
  private blocked = false;
  onDrain?: () => void;

  /**
   * The open frame's JSON as its UTF-8 bytes in a one-byte string: thousands of
   * idle connections must stay small, and a flat string costs its length where
   * the parsed object costs about 1.5 times that. Fields are parsed when read,
   * through a one-entry cache, so reading several in one handler parses once.
   */
  private readonly raw: string;

  constructor(
    readonly id: number,
    payload: Buffer,
    head: Record<string, unknown>,
    private readonly channel: Channel,
    private readonly maxPayload: number,
  ) {
    this.raw = payload.toString('latin1');
    lastHead = { conn: this, head };
  }

  private get head(): Record<string, unknown> {
    if (lastHead.conn !== this) lastHead = { conn: this, head: JSON.parse(Buffer.from(this.raw, 'latin1').toString('utf8')) as Record<string, unknown> };
    return lastHead.head;
  }

  get url(): string {
    return String(this.head.url ?? '/');
  }

  get query(): string {
    return String(this.head.query ?? '');
  }

  get headers(): Readonly<Record<string, string>> {
    return (this.head.headers as Record<string, string> | undefined) ?? {};
  }

  get instance(): string | null {
    return typeof this.head.instance === 'string' ? this.head.instance : null;
  }

  get remote(): string {
    return String(this.head.remote ?? '');
  }

  get identity(): Connection['identity'] {
    return (this.head.identity as Connection['identity']) ?? null;
  }

  get sessionKey(): string | null {
    return typeof this.head.sessionKey === 'string' ? this.head.sessionKey : null;
  }

  send(data: string | Uint8Array): boolean {
    if (this.closed) return false;
    const text = typeof data === 'string';
    const payload = text ? Buffer.from(data) : data;
    if (payload.length > this.maxPayload) throw new RangeError(`a WebSocket message of ${payload.length} bytes is larger than the supervisor takes (${this.maxPayload})`);
    const ok = this.channel.send(text ? Kind.WS_TEXT : Kind.WS_BINARY, this.id, payload);
    if (!ok) this.blocked = true;
    return ok && !this.paused;
  }

  /** The channel took its backlog: a sender that was told to wait may go on (unless the client is slow). */
  channelDrained(): void {
    if (!this.blocked) return;
    this.blocked = false;
    if (!this.paused && !this.closed) this.onDrain?.();
  }

  close(code = 1000, reason = ''): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.send(Kind.WS_CLOSE, this.id, encodeClose(code, reason));
  }

  pause(): void {
    this.channel.send(Kind.PAUSE, this.id);
  }

  resume(): void {
    this.channel.send(Kind.RESUME, this.id);
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused && !this.blocked && !this.closed) this.onDrain?.();
  }
}
