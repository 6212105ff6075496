// WebSockets to an instance: uWS terminates them; messages travel over the
// service's channel on a stream per connection.
//
// - PBX login first (AppWebsocket) when the service asks for it: nothing
//   reaches the service before AppLoginResult ok, and then it gets the identity.
// - Connections outlive their service: when it dies, is restarted or updated,
//   they stay open, client messages are held (a small cap, then 1013), and
//   the new process gets an open for each of them again. Only a stop (or a
//   service that failed) closes them.
// - Backpressure both ways: service → client by PAUSE/RESUME driven by
//   getBufferedAmount() and drain; client → service bounded per connection
//   (uWS cannot stop reading a socket): past the budget, 1013.
// - CheckBuild and AppInfo are answered here, from the running package.
import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ChannelError, closeReason, decodeClose, encodeClose, Kind, type Frame } from '../channel';
import { INITIAL_LOGIN, LoginThrottle, loginStep, newChallenge, type Identity, type LoginState } from '../login';
import { logged, type AccessLog } from './access';
import { readHead } from './proxy';
import { reply } from './reply';
import type { Route, RouteTable } from './routes';
import { shown } from './strict';
import { FLOOD_LIMIT, type StreamHandler, type Upstream, type Upstreams } from './upstream';

export interface WsLimits {
  readonly maxHeaderBytes: number;
  readonly maxPayloadBytes: number;
  readonly idleTimeoutS: number;
  /** Client data a running service has not taken yet, per connection, before 1013. */
  readonly clientBudgetBytes: number;
  /** Client data held per connection while its service is away, before 1013. */
  readonly holdBytes: number;
  /** Seconds from open to AppLoginResult ok before 1008 (services with the PBX login). */
  readonly loginTimeoutS: number;
  /** Connections logging in at once, overall; an eighth of it per address (loginSlots). */
  readonly loginMax: number;
}

/**
 * Largest message before login: only the small JSON of AppChallenge and
 * AppLogin is legitimate then. (uWS has already buffered it by the time we
 * see it: what bounds a frame still in flight is maxPayloadLength and the
 * login deadline; README, Known limitations.)
 */
export const LOGIN_MESSAGE_MAX = 4096;

const HANDSHAKE_HEADERS = ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'upgrade', 'connection'];

/** Client-side buffered bytes above which the service is asked to pause. */
const HIGH_WATER = 256 * 1024;

/** What every connection of the webserver shares, over HTTP and HTTPS alike. */
export interface Shared {
  readonly upstreams: Upstreams;
  readonly limits: WsLimits;
  readonly throttle: LoginThrottle;
  /** Connections whose service is away, by service. */
  readonly waiting: Map<string, Set<WsConn>>;
  /**
   * Open connections by instance (name@domain), to end them when it stops:
   * the head of an intrusive list (two fields per connection, where a Set
   * entry measured ~130 bytes).
   */
  readonly byInstance: Map<string, WsConn>;
  /** Open connections per instance (the metrics). */
  readonly countByInstance: Map<string, number>;
  /** Connections still logging in, overall and by client address (loginSlots). */
  readonly loggingIn: { total: number; readonly byAddress: Map<string, number> };
  /** Upgrades (and refusals) are written here when it is on. */
  readonly access?: AccessLog;
}

/** uWS copies the user data's own properties into an object of its own: hold ours in one. */
export interface UserData {
  readonly conn: WsConn;
}

/**
 * One client connection, ours: login, attachment to the service (it is the
 * stream handler too, so a connection costs one object, not a set of closures).
 */
export class WsConn implements StreamHandler {
  ws: WebSocket<UserData> | null = null;
  /** login: before AppLoginResult ok; open: attached to the service; waiting: the service is away. */
  phase: 'login' | 'open' | 'waiting' | 'closed' = 'login';
  login: LoginState = INITIAL_LOGIN;
  upstream: Upstream | null = null;
  stream = 0;
  /** The request head until the first open; then the WS_OPEN payload (head, identity, session key), kept to re-open after a restart. */
  private head: Record<string, unknown> | null;
  /**
   * The payload's UTF-8 bytes as a one-byte string: a flat string in the V8
   * heap costs its length; a small Buffer would pin a slab of Node's 8 KiB
   * buffer pool (measured: 910 B per connection instead of ~320).
   */
  private openPayload: string | null = null;
  /** Client messages held while the service (or its channel) cannot take them. */
  private held: { data: Buffer; binary: boolean }[] | null = null;
  private heldBytes = 0;
  private serviceWantsPause = false;
  private channelFull = false;
  /** We asked the service to pause (the client is slow). */
  pausedService = false;
  /** Neighbours among the open connections of the same instance (Shared.byInstance). */
  prevOfInstance: WsConn | null = null;
  nextOfInstance: WsConn | null = null;
  private floodBytes = 0;
  /** Ends a connection that has not logged in in time. */
  private loginTimer: NodeJS.Timeout | null = null;
  /** It holds one of the login slots (Shared.loggingIn) until it logs in or closes. */
  private loginSlot = false;

  constructor(
    private readonly shared: Shared,
    readonly route: Route,
    readonly remote: string,
    head: Record<string, unknown>,
  ) {
    this.head = head;
  }

  /** Takes a login slot; false when the caps of loginSlots() are reached. */
  takeLoginSlot(): boolean {
    const { limits, loggingIn } = this.shared;
    const perAddress = loginSlots(limits.loginMax).perAddress;
    const client = clientKey(this.remote);
    const mine = loggingIn.byAddress.get(client) ?? 0;
    if (loggingIn.total >= limits.loginMax || mine >= perAddress) return false;
    loggingIn.total++;
    loggingIn.byAddress.set(client, mine + 1);
    return (this.loginSlot = true);
  }

  private releaseLoginSlot(): void {
    if (!this.loginSlot) return;
    this.loginSlot = false;
    const { loggingIn } = this.shared;
    loggingIn.total--;
    const client = clientKey(this.remote);
    const mine = (loggingIn.byAddress.get(client) ?? 1) - 1;
    if (mine > 0) loggingIn.byAddress.set(client, mine);
    else loggingIn.byAddress.delete(client);
  }

  /** After login: the service gets the identity and the session key with every open. */
  loggedIn(identity: Identity, sessionKey: string): void {
    this.stopLoginTimer();
    this.releaseLoginSlot();
    if (this.head) this.head = { ...this.head, identity, sessionKey };
  }

  /** Opens the connection on its service, or leaves it waiting for the service to run. */
  attach(): void {
    const upstream = this.shared.upstreams.get(this.route.service);
    const stream = upstream?.openStream(this) ?? null;
    if (stream === null || !upstream) return this.wait();
    this.shared.waiting.get(this.route.service)?.delete(this);
    this.phase = 'open';
    this.upstream = upstream;
    this.stream = stream;
    if (this.openPayload === null) {
      this.openPayload = Buffer.from(JSON.stringify(this.head), 'utf8').toString('latin1');
      this.head = null;
    }
    upstream.send(Kind.WS_OPEN, stream, Buffer.from(this.openPayload, 'latin1'));
    this.flushHeld();
  }

  private wait(): void {
    this.phase = 'waiting';
    this.upstream = null;
    this.stream = 0;
    this.serviceWantsPause = this.channelFull = this.pausedService = false;
    let set = this.shared.waiting.get(this.route.service);
    if (!set) this.shared.waiting.set(this.route.service, (set = new Set()));
    set.add(this);
  }

  /** A client message after login. */
  fromClient(data: Buffer, binary: boolean): void {
    if (this.phase === 'waiting') return this.hold(data, binary, this.shared.limits.holdBytes);
    if (!this.upstream) return;
    // Its process is stopping (a restart, an update): this waits for the next one, as after a crash.
    if (!this.upstream.accepting) return this.hold(data, binary, this.shared.limits.holdBytes);
    if (this.serviceWantsPause || this.channelFull || this.held !== null) return this.hold(data, binary, this.shared.limits.clientBudgetBytes);
    if (!this.upstream.send(binary ? Kind.WS_BINARY : Kind.WS_TEXT, this.stream, data)) this.channelFull = true;
  }

  private hold(data: Buffer, binary: boolean, cap: number): void {
    (this.held ??= []).push({ data, binary });
    this.heldBytes += data.length;
    if (this.heldBytes > cap) this.end(1013, 'try again later');
  }

  /** The client can take more: resume a service we paused. */
  clientDrained(): void {
    if (this.pausedService && this.ws && this.ws.getBufferedAmount() < HIGH_WATER / 2) {
      this.pausedService = false;
      this.floodBytes = 0;
      this.upstream?.send(Kind.RESUME, this.stream);
    }
  }

  /** The client closed; `ws` is gone. */
  closed(code: number, reason: string): void {
    this.stopLoginTimer();
    this.releaseLoginSlot();
    this.phase = 'closed';
    this.ws = null;
    this.held = null;
    this.shared.waiting.get(this.route.service)?.delete(this);
    this.unlinkFromInstance();
    if (!this.upstream) return;
    this.upstream.send(Kind.WS_CLOSE, this.stream, encodeClose(code, reason));
    this.upstream.closeStream(this.stream);
    this.upstream = null;
  }

  /** Starts the login deadline. */
  startLoginTimer(seconds: number): void {
    this.loginTimer = setTimeout(() => {
      this.loginTimer = null;
      if (this.phase === 'login') this.end(1008, 'no login in time');
    }, seconds * 1000);
  }

  private stopLoginTimer(): void {
    if (this.loginTimer) clearTimeout(this.loginTimer);
    this.loginTimer = null;
  }

  /** Joins the list of open connections of its instance. */
  linkToInstance(): void {
    const head = this.shared.byInstance.get(this.route.instance) ?? null;
    this.nextOfInstance = head;
    if (head) head.prevOfInstance = this;
    this.shared.byInstance.set(this.route.instance, this);
    this.shared.countByInstance.set(this.route.instance, (this.shared.countByInstance.get(this.route.instance) ?? 0) + 1);
  }

  private unlinkFromInstance(): void {
    // In the list: it has a predecessor, or it is the head.
    if (this.prevOfInstance === null && this.shared.byInstance.get(this.route.instance) !== this) return;
    const count = (this.shared.countByInstance.get(this.route.instance) ?? 1) - 1;
    if (count > 0) this.shared.countByInstance.set(this.route.instance, count);
    else this.shared.countByInstance.delete(this.route.instance);
    const { prevOfInstance: prev, nextOfInstance: next } = this;
    if (prev) prev.nextOfInstance = next;
    else if (this.shared.byInstance.get(this.route.instance) === this) {
      if (next) this.shared.byInstance.set(this.route.instance, next);
      else this.shared.byInstance.delete(this.route.instance);
    }
    if (next) next.prevOfInstance = prev;
    this.prevOfInstance = this.nextOfInstance = null;
  }

  // --- StreamHandler: what the service sends on our stream ---

  frame(frame: Frame): void {
    if (this.phase !== 'open' || !this.ws) return;
    switch (frame.kind) {
      case Kind.WS_TEXT:
      case Kind.WS_BINARY:
        return this.toClient(this.ws, frame);
      case Kind.WS_CLOSE: {
        const { code, reason } = decodeClose(frame.payload);
        this.upstream?.closeStream(this.stream);
        this.upstream = null;
        // A longer reason would make uWS send a close frame no client takes (it sees 1006).
        return this.end(validCloseCode(code) ? code : 1000, closeReason(reason).toString());
      }
      case Kind.PAUSE:
        this.serviceWantsPause = true;
        return;
      case Kind.RESUME:
        this.serviceWantsPause = false;
        return this.flushHeld();
      default:
        throw new ChannelError(`frame kind 0x${frame.kind.toString(16)} on WebSocket stream ${this.stream}`);
    }
  }

  drain(): void {
    if (this.phase !== 'open' || !this.channelFull) return;
    this.channelFull = false;
    this.flushHeld();
  }

  gone(): void {
    // The service went away; the client stays, and hears nothing of it.
    if (this.phase === 'open') this.wait();
  }

  private toClient(ws: WebSocket<UserData>, frame: Frame): void {
    if (this.pausedService) {
      this.floodBytes += frame.payload.length;
      if (this.floodBytes > FLOOD_LIMIT) return this.upstream?.cutOffFor(`ignored PAUSE on WebSocket stream ${this.stream}`);
    }
    ws.cork(() => ws.send(frame.payload, frame.kind === Kind.WS_BINARY));
    if (!this.pausedService && ws.getBufferedAmount() > HIGH_WATER) {
      this.pausedService = true;
      this.upstream?.send(Kind.PAUSE, this.stream);
    }
  }

  /** Forwards held client messages while the service and its channel take them. */
  private flushHeld(): void {
    const held = this.held;
    while (held && held.length > 0 && this.phase === 'open' && this.upstream?.accepting && !this.serviceWantsPause && !this.channelFull) {
      const { data, binary } = held.shift()!;
      this.heldBytes -= data.length;
      if (!this.upstream.send(binary ? Kind.WS_BINARY : Kind.WS_TEXT, this.stream, data)) this.channelFull = true;
    }
    if (held && held.length === 0) this.held = null;
  }

  sendJson(message: Record<string, unknown>): void {
    const ws = this.ws;
    if (ws) ws.cork(() => ws.send(JSON.stringify(message), false));
  }

  end(code: number, reason: string): void {
    const ws = this.ws;
    if (ws) ws.cork(() => ws.end(code, reason));
  }
}

/** The state shared by the HTTP and HTTPS apps' WebSockets (one login throttle, one registry). */
export function websocketState(upstreams: Upstreams, limits: WsLimits, access?: AccessLog): Shared {
  const shared: Shared = {
    access,
    upstreams,
    limits,
    throttle: new LoginThrottle(),
    waiting: new Map(),
    byInstance: new Map(),
    countByInstance: new Map(),
    loggingIn: { total: 0, byAddress: new Map() },
  };
  upstreams.onState((service, state) => {
    const set = shared.waiting.get(service);
    if (!set || set.size === 0) return;
    if (state === 'running') for (const conn of [...set]) conn.attach();
    else if (state === 'failed' || (state === 'stopped' && !upstreams.restarting?.(service))) {
      for (const conn of [...set]) conn.end(1013, 'service unavailable');
    }
  });
  return shared;
}

/** Ends every client WebSocket of instance `id` (it was stopped or deleted). */
export function closeInstanceConnections(shared: Shared, id: string, code: number, reason: string): number {
  const conns: WsConn[] = [];
  for (let conn = shared.byInstance.get(id) ?? null; conn; conn = conn.nextOfInstance) conns.push(conn);
  for (const conn of conns) conn.end(code, reason);
  return conns.length;
}

/**
 * How many connections may be logging in at once. Until its login a connection
 * is anybody's, and uWS holds each one's frame in flight up to maxPayloadLength
 * before we see it: `overall` × max payload bounds what unauthenticated
 * clients can make us hold, and `perAddress` keeps one client from taking
 * every slot while PBXes elsewhere log in (a login takes milliseconds).
 */
export function loginSlots(loginMax: number): { overall: number; perAddress: number } {
  return { overall: loginMax, perAddress: Math.max(1, Math.ceil(loginMax / 8)) };
}

/**
 * Who a client is, for the per-address cap: its IPv4 address (also when
 * v4-mapped), or the /64 of its IPv6 address, since one host owns a whole /64.
 */
export function clientKey(remote: string): string {
  if (!remote.includes(':')) return remote;
  // uWS writes IPv6 in full (0000:…:0001); others may compress (::1, ::ffff:1.2.3.4).
  let text = remote.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) text = text.slice(0, dotted.index) + (((+dotted[1]! << 8) | +dotted[2]!).toString(16)) + ':' + (((+dotted[3]! << 8) | +dotted[4]!).toString(16));
  const [left = '', right] = text.split('::');
  const head = left === '' ? [] : left.split(':');
  const tail = right === undefined || right === '' ? [] : right.split(':');
  const groups = (right === undefined ? head : [...head, ...Array(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail]).map((g) => parseInt(g, 16) || 0);
  if (groups.length === 8 && groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join('.');
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The uWS behavior for instance WebSockets. */
export function websocketBehavior(routes: () => RouteTable, shared: Shared): WebSocketBehavior<UserData> {
  const { upstreams, limits } = shared;
  return {
    maxPayloadLength: limits.maxPayloadBytes,
    idleTimeout: Math.max(8, limits.idleTimeoutS),
    // Well above the flood limit, so uWS never silently drops a message: we act first.
    maxBackpressure: 4 * FLOOD_LIMIT,
    closeOnBackpressureLimit: 0,
    sendPingsAutomatically: true,
    upgrade(raw, req, context) {
      const res = shared.access?.enabled ? logged(raw, req, shared.access) : raw;
      const route = routes().match(req.getUrl());
      if (!route) return reply(res, 404, `not found: ${shown(req.getUrl())}\n`);
      if (!upstreams.get(route.service)) return reply(res, 503, `the service of ${route.instance} is not installed\n`);
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const { size, method: _method, ...head } = readHead(res, req, route.instance);
      if (size > limits.maxHeaderBytes) return reply(res, 431, `request headers larger than ${limits.maxHeaderBytes} bytes\n`);
      // The handshake's own headers mean nothing to the service; every connection keeps its head.
      for (const name of HANDSHAKE_HEADERS) delete head.headers[name];
      const conn = new WsConn(shared, route, head.remote, head);
      if (upstreams.get(route.service)?.pbxLogin && !conn.takeLoginSlot()) {
        return reply(res, 503, 'too many connections logging in: try again in a second\n', { 'Retry-After': '1' });
      }
      const data: UserData = { conn };
      res.upgrade(data, key, protocol, extensions, context);
      // uWS calls open() inside upgrade(); without it the slot would be lost.
      if (!conn.ws) conn.closed(1006, 'not opened');
    },
    open(ws) {
      const conn = ws.getUserData().conn;
      conn.ws = ws;
      conn.linkToInstance();
      if (!upstreams.get(conn.route.service)?.pbxLogin) conn.attach();
      else conn.startLoginTimer(limits.loginTimeoutS);
    },
    message(ws, message, isBinary) {
      const conn = ws.getUserData().conn;
      if (conn.phase === 'login') return loginMessage(shared, conn, message, isBinary);
      const data = Buffer.from(message.slice(0)); // uWS reuses `message` after we return
      if (!isBinary && data.length < 4096 && answerHere(upstreams, conn, data)) return;
      conn.fromClient(data, isBinary);
    },
    drain(ws) {
      ws.getUserData().conn.clientDrained();
    },
    close(ws, code, message) {
      ws.getUserData().conn.closed(code, Buffer.from(message).toString());
    },
  };
}

function loginMessage(shared: Shared, conn: WsConn, message: ArrayBuffer, isBinary: boolean): void {
  if (isBinary) return conn.end(1008, 'log in first');
  if (message.byteLength > LOGIN_MESSAGE_MAX) return conn.end(1009, 'message too large before login');
  const now = Date.now();
  const step = loginStep(conn.login, Buffer.from(message).toString('utf8'), conn.route, newChallenge, shared.throttle.locked(conn.remote, now));
  if (step.kind === 'close') return conn.end(step.code, step.reason);
  conn.login = step.state;
  conn.sendJson(step.reply);
  if (step.kind === 'failed') shared.throttle.failed(conn.remote, now);
  if (step.kind === 'ok') {
    shared.throttle.succeeded(conn.remote);
    conn.loggedIn(step.identity, step.sessionKey);
    conn.attach();
  }
}

/** CheckBuild and AppInfo, answered from the running package; true when `data` was one. */
function answerHere(upstreams: Upstreams, conn: WsConn, data: Buffer): boolean {
  const checkBuild = data.includes('"CheckBuild"');
  if (!checkBuild && !data.includes('"AppInfo"')) return false;
  let message: Record<string, unknown>;
  try {
    message = JSON.parse(data.toString('utf8'));
  } catch {
    return false;
  }
  const upstream = upstreams.get(conn.route.service);
  const src = message.src === undefined ? {} : { src: message.src };
  if (message.mt === 'CheckBuild' && typeof message.url === 'string') {
    conn.sendJson({ mt: 'CheckBuildResult', url: currentBuildUrl(message.url, conn.route.prefix, upstream?.build ?? ''), ...src });
    return true;
  }
  if (message.mt === 'AppInfo') {
    conn.sendJson({ mt: 'AppInfoResult', app: message.app ?? '', build: upstream?.build ?? null, ...src });
    return true;
  }
  return false;
}

/** `url` with the segment after the instance path replaced by the running build. */
export function currentBuildUrl(url: string, prefix: string, build: string): string {
  const absolute = /^[a-z]+:\/\//i.test(url);
  const parsed = new URL(url, 'http://relative');
  if (!parsed.pathname.startsWith(`${prefix}/`)) return url;
  const rest = parsed.pathname.slice(prefix.length + 1).split('/');
  rest[0] = build;
  parsed.pathname = `${prefix}/${rest.join('/')}`;
  return absolute ? parsed.href : `${parsed.pathname}${parsed.search}${parsed.hash}`;
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
