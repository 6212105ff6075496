// WebSockets to an instance: uWS terminates them; messages travel over the
// service's channel on a stream per connection. Backpressure both ways:
// service → client by PAUSE/RESUME driven by getBufferedAmount() and drain;
// client → service bounded per connection (uWS cannot stop reading a socket),
// so a client whose held data passes its budget is closed with 1013.
import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ChannelError, decodeClose, encodeClose, Kind, type Frame } from '../channel';
import { readHead, reply } from './proxy';
import type { Route, RouteTable } from './routes';
import { FLOOD_LIMIT, type Upstream, type Upstreams } from './upstream';

export interface WsLimits {
  readonly maxHeaderBytes: number;
  readonly maxPayloadBytes: number;
  readonly idleTimeoutS: number;
  readonly clientBudgetBytes: number;
}

/** Client-side buffered bytes above which the service is asked to pause. */
const HIGH_WATER = 256 * 1024;

/** Per-connection state, ours (uWS keeps it as the socket's user data). */
export interface Conn {
  readonly route: Route;
  readonly head: Omit<ReturnType<typeof readHead>, 'size'>;
  upstream: Upstream | null;
  stream: number;
  open: boolean;
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
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const { size, ...head } = readHead(res, req, route.instance);
      if (size > limits.maxHeaderBytes) return reply(res, 431, `request headers larger than ${limits.maxHeaderBytes} bytes\n`);
      const conn: Conn = {
        route,
        head,
        upstream: null,
        stream: 0,
        open: false,
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
      conn.open = true;
      const upstream = upstreams.get(conn.route.service);
      const stream = upstream?.openStream(streamHandler(ws, conn)) ?? null;
      if (stream === null || !upstream) {
        ws.end(1013, 'service not running');
        return;
      }
      conn.upstream = upstream;
      conn.stream = stream;
      const { method: _method, ...open } = conn.head;
      upstream.send(Kind.WS_OPEN, stream, Buffer.from(JSON.stringify(open)));
    },
    message(ws, message, isBinary) {
      const conn = ws.getUserData();
      if (!conn.upstream) return;
      const data = Buffer.from(message.slice(0)); // uWS reuses `message` after we return
      if (conn.serviceWantsPause || conn.channelFull || conn.held.length > 0) {
        conn.held.push({ data, binary: isBinary });
        conn.heldBytes += data.length;
        if (conn.heldBytes > limits.clientBudgetBytes) ws.end(1013, 'try again later');
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
      conn.open = false;
      if (!conn.upstream) return;
      conn.upstream.send(Kind.WS_CLOSE, conn.stream, encodeClose(code, Buffer.from(message).toString()));
      conn.upstream.closeStream(conn.stream);
      conn.upstream = null;
      conn.held = [];
    },
  };
}

function streamHandler(ws: WebSocket<Conn>, conn: Conn) {
  return {
    frame(frame: Frame): void {
      if (!conn.open) return;
      switch (frame.kind) {
        case Kind.WS_TEXT:
        case Kind.WS_BINARY:
          return toClient(ws, conn, frame);
        case Kind.WS_CLOSE: {
          const { code, reason } = decodeClose(frame.payload);
          conn.upstream?.closeStream(conn.stream);
          conn.upstream = null;
          ws.cork(() => ws.end(validCloseCode(code) ? code : 1000, reason));
          return;
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
      if (!conn.open || !conn.channelFull) return;
      conn.channelFull = false;
      flushHeld(conn);
    },
    gone(): void {
      if (!conn.open) return;
      conn.upstream = null;
      ws.cork(() => ws.end(1012, 'service restart'));
    },
  };
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
  while (conn.held.length > 0 && conn.upstream && !conn.serviceWantsPause && !conn.channelFull) {
    const { data, binary } = conn.held.shift()!;
    conn.heldBytes -= data.length;
    if (!conn.upstream.send(binary ? Kind.WS_BINARY : Kind.WS_TEXT, conn.stream, data)) conn.channelFull = true;
  }
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}
