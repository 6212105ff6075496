// WebSockets to an instance: uWS terminates them; messages travel over the
// service's channel on a stream per connection.
//
// - PBX login first (AppWebsocket) when the service asks for it: nothing
//   reaches the service before AppLoginResult ok, and then it gets the identity.
// - Connections outlive their service: when it dies or restarts, they stay
//   open, client messages are held (a small cap, then 1013), and the new
//   process gets an open for each of them again.
// - Backpressure both ways: service → client by PAUSE/RESUME driven by
//   getBufferedAmount() and drain; client → service bounded per connection
//   (uWS cannot stop reading a socket): past the budget, 1013.
// - CheckBuild and AppInfo are answered here, from the running package.
import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ChannelError, decodeClose, encodeClose, Kind, type Frame } from '../channel';
import { INITIAL_LOGIN, LoginThrottle, loginStep, newChallenge, type Identity, type LoginState } from '../login';
import { readHead, reply } from './proxy';
import type { Route, RouteTable } from './routes';
import { FLOOD_LIMIT, type Upstream, type Upstreams } from './upstream';

export interface WsLimits {
  readonly maxHeaderBytes: number;
  readonly maxPayloadBytes: number;
  readonly idleTimeoutS: number;
  /** Client data a running service has not taken yet, per connection, before 1013. */
  readonly clientBudgetBytes: number;
  /** Client data held per connection while its service is away, before 1013. */
  readonly holdBytes: number;
}

/** Client-side buffered bytes above which the service is asked to pause. */
const HIGH_WATER = 256 * 1024;

/** Per-connection state, ours (uWS keeps it as the socket's user data). */
export interface Conn {
  readonly route: Route;
  readonly head: Omit<ReturnType<typeof readHead>, 'size'>;
  ws: WebSocket<Conn> | null;
  /** login: before AppLoginResult ok; open: attached to the service; waiting: the service is away. */
  phase: 'login' | 'open' | 'waiting' | 'closed';
  login: LoginState;
  identity: Identity | null;
  sessionKey: string | null;
  upstream: Upstream | null;
  stream: number;
  /** Client messages held while the service (or its channel) cannot take them. */
  held: { data: Buffer; binary: boolean }[];
  heldBytes: number;
  serviceWantsPause: boolean;
  channelFull: boolean;
  /** We asked the service to pause (the client is slow). */
  pausedService: boolean;
  floodBytes: number;
}

/** The uWS behavior for instance WebSockets. */
export function websocketBehavior(routes: () => RouteTable, upstreams: Upstreams, limits: WsLimits): WebSocketBehavior<Conn> {
  const throttle = new LoginThrottle();
  const waiting = new Map<string, Set<Conn>>();

  const wait = (conn: Conn) => {
    conn.phase = 'waiting';
    conn.upstream = null;
    conn.stream = 0;
    conn.serviceWantsPause = conn.channelFull = conn.pausedService = false;
    let set = waiting.get(conn.route.service);
    if (!set) waiting.set(conn.route.service, (set = new Set()));
    set.add(conn);
  };

  /** Opens the connection on its service, or leaves it waiting for the service to run. */
  const attach = (conn: Conn) => {
    const upstream = upstreams.get(conn.route.service);
    const stream = upstream?.openStream(streamHandler(conn)) ?? null;
    if (stream === null || !upstream) return wait(conn);
    waiting.get(conn.route.service)?.delete(conn);
    conn.phase = 'open';
    conn.upstream = upstream;
    conn.stream = stream;
    const { method: _method, ...head } = conn.head;
    upstream.send(Kind.WS_OPEN, stream, Buffer.from(JSON.stringify({ ...head, identity: conn.identity, sessionKey: conn.sessionKey })));
    flushHeld(conn);
  };

  upstreams.onState((service, state) => {
    const set = waiting.get(service);
    if (!set || set.size === 0) return;
    if (state === 'running') for (const conn of [...set]) attach(conn);
    else if (state === 'failed' || state === 'stopped') {
      for (const conn of [...set]) end(conn, 1013, 'service unavailable');
    }
  });

  return {
    maxPayloadLength: limits.maxPayloadBytes,
    idleTimeout: Math.max(8, limits.idleTimeoutS),
    // Well above the flood limit, so uWS never silently drops a message: we act first.
    maxBackpressure: 4 * FLOOD_LIMIT,
    closeOnBackpressureLimit: 0,
    sendPingsAutomatically: true,
    upgrade(res, req, context) {
      const route = routes().match(req.getUrl());
      if (!route) return reply(res, 404, `not found: ${req.getUrl()}\n`);
      if (!upstreams.get(route.service)) return reply(res, 503, `the service of ${route.instance} is not installed\n`);
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const { size, ...head } = readHead(res, req, route.instance);
      if (size > limits.maxHeaderBytes) return reply(res, 431, `request headers larger than ${limits.maxHeaderBytes} bytes\n`);
      const conn: Conn = {
        route,
        head,
        ws: null,
        phase: 'login',
        login: INITIAL_LOGIN,
        identity: null,
        sessionKey: null,
        upstream: null,
        stream: 0,
        held: [],
        heldBytes: 0,
        serviceWantsPause: false,
        channelFull: false,
        pausedService: false,
        floodBytes: 0,
      };
      res.upgrade(conn, key, protocol, extensions, context);
    },
    open(ws) {
      const conn = ws.getUserData();
      conn.ws = ws;
      if (!upstreams.get(conn.route.service)?.pbxLogin) attach(conn);
    },
    message(ws, message, isBinary) {
      const conn = ws.getUserData();
      if (conn.phase === 'login') return loginMessage(conn, message, isBinary);
      const data = Buffer.from(message.slice(0)); // uWS reuses `message` after we return
      if (!isBinary && data.length < 4096 && answerHere(conn, data)) return;
      if (conn.phase === 'waiting') {
        conn.held.push({ data, binary: isBinary });
        conn.heldBytes += data.length;
        if (conn.heldBytes > limits.holdBytes) end(conn, 1013, 'try again later');
        return;
      }
      if (!conn.upstream) return;
      if (conn.serviceWantsPause || conn.channelFull || conn.held.length > 0) {
        conn.held.push({ data, binary: isBinary });
        conn.heldBytes += data.length;
        if (conn.heldBytes > limits.clientBudgetBytes) end(conn, 1013, 'try again later');
        return;
      }
      if (!conn.upstream.send(isBinary ? Kind.WS_BINARY : Kind.WS_TEXT, conn.stream, data)) conn.channelFull = true;
    },
    drain(ws) {
      const conn = ws.getUserData();
      if (conn.pausedService && ws.getBufferedAmount() < HIGH_WATER / 2) {
        conn.pausedService = false;
        conn.floodBytes = 0;
        conn.upstream?.send(Kind.RESUME, conn.stream);
      }
    },
    close(ws, code, message) {
      // `ws` may not be used from here on.
      const conn = ws.getUserData();
      conn.phase = 'closed';
      conn.ws = null;
      conn.held = [];
      waiting.get(conn.route.service)?.delete(conn);
      if (!conn.upstream) return;
      conn.upstream.send(Kind.WS_CLOSE, conn.stream, encodeClose(code, Buffer.from(message).toString()));
      conn.upstream.closeStream(conn.stream);
      conn.upstream = null;
    },
  };

  function loginMessage(conn: Conn, message: ArrayBuffer, isBinary: boolean): void {
    if (isBinary) return end(conn, 1008, 'log in first');
    const remote = conn.head.remote;
    const now = Date.now();
    const step = loginStep(conn.login, Buffer.from(message).toString('utf8'), conn.route, newChallenge, throttle.locked(remote, now));
    if (step.kind === 'close') return end(conn, step.code, step.reason);
    conn.login = step.state;
    sendJson(conn, step.reply);
    if (step.kind === 'failed') throttle.failed(remote, now);
    if (step.kind === 'ok') {
      throttle.succeeded(remote);
      conn.identity = step.identity;
      conn.sessionKey = step.sessionKey;
      attach(conn);
    }
  }

  /** CheckBuild and AppInfo, answered from the running package; true when `data` was one. */
  function answerHere(conn: Conn, data: Buffer): boolean {
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
      sendJson(conn, { mt: 'CheckBuildResult', url: currentBuildUrl(message.url, conn.route.prefix, upstream?.build ?? ''), ...src });
      return true;
    }
    if (message.mt === 'AppInfo') {
      sendJson(conn, { mt: 'AppInfoResult', app: message.app ?? '', build: upstream?.build ?? null, ...src });
      return true;
    }
    return false;
  }

  function streamHandler(conn: Conn) {
    return {
      frame(frame: Frame): void {
        if (conn.phase !== 'open' || !conn.ws) return;
        const ws = conn.ws;
        switch (frame.kind) {
          case Kind.WS_TEXT:
          case Kind.WS_BINARY:
            return toClient(ws, conn, frame);
          case Kind.WS_CLOSE: {
            const { code, reason } = decodeClose(frame.payload);
            conn.upstream?.closeStream(conn.stream);
            conn.upstream = null;
            return end(conn, validCloseCode(code) ? code : 1000, reason);
          }
          case Kind.PAUSE:
            conn.serviceWantsPause = true;
            return;
          case Kind.RESUME:
            conn.serviceWantsPause = false;
            return flushHeld(conn);
          default:
            throw new ChannelError(`frame kind 0x${frame.kind.toString(16)} on WebSocket stream ${conn.stream}`);
        }
      },
      drain(): void {
        if (conn.phase !== 'open' || !conn.channelFull) return;
        conn.channelFull = false;
        flushHeld(conn);
      },
      gone(): void {
        // The service went away; the client stays, and hears nothing of it.
        if (conn.phase === 'open') wait(conn);
      },
    };
  }
}

function toClient(ws: WebSocket<Conn>, conn: Conn, frame: Frame): void {
  if (conn.pausedService) {
    conn.floodBytes += frame.payload.length;
    if (conn.floodBytes > FLOOD_LIMIT) return conn.upstream?.cutOffFor(`ignored PAUSE on WebSocket stream ${conn.stream}`);
  }
  ws.cork(() => ws.send(frame.payload, frame.kind === Kind.WS_BINARY));
  if (!conn.pausedService && ws.getBufferedAmount() > HIGH_WATER) {
    conn.pausedService = true;
    conn.upstream?.send(Kind.PAUSE, conn.stream);
  }
}

/** Forwards held client messages while the service and its channel take them. */
function flushHeld(conn: Conn): void {
  while (conn.held.length > 0 && conn.phase === 'open' && conn.upstream && !conn.serviceWantsPause && !conn.channelFull) {
    const { data, binary } = conn.held.shift()!;
    conn.heldBytes -= data.length;
    if (!conn.upstream.send(binary ? Kind.WS_BINARY : Kind.WS_TEXT, conn.stream, data)) conn.channelFull = true;
  }
}

function sendJson(conn: Conn, message: Record<string, unknown>): void {
  const ws = conn.ws;
  if (ws) ws.cork(() => ws.send(JSON.stringify(message), false));
}

function end(conn: Conn, code: number, reason: string): void {
  const ws = conn.ws;
  if (ws) ws.cork(() => ws.end(code, reason));
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
