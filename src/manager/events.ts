// The Manager's push channel: a WebSocket at /manager/api/events that tells a
// logged-in UI what changed, so it follows jobs and states without polling.
//
// - Opened only with a live session cookie whose password is no longer the
//   default, and only from the Manager's own origin (the Origin must name this
//   very host and port: cookies ride along on WebSockets from other sites and
//   from the apps' port of this host, SameSite aside).
// - Server → client only: JSON texts {type: "job" | "service" | "alarm" |
//   "changed" | "transfer", …}; a download's progress goes only to the
//   session that asked for it. A client that sends anything is closed (1003).
// - Sessions end on the socket too: every event, and a sweep every 30 s,
//   checks the session without counting as activity (an open tab must not
//   keep a session alive), and logout or a password change ends it at once.
// - A slow client never holds memory: past 256 KiB buffered it is closed
//   (1013); the UI reconnects and reloads what it shows.
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Alarm } from '../alarms';
import type { ManagerAuth } from '../auth';
import type { JobView } from '../jobs';
import type { Logger } from '../log';
import { API_PREFIX, sameOrigin, sessionToken } from '../origin';

export const EVENTS_PATH = `${API_PREFIX}/events`;
const MAX_BUFFERED = 256 * 1024;
const SWEEP_MS = 30_000;

export type ManagerEvent =
  | { readonly type: 'job'; readonly job: JobView }
  | { readonly type: 'service'; readonly name: string; readonly state: string }
  | { readonly type: 'alarm'; readonly event: 'raised' | 'cleared'; readonly alarm: Alarm }
  | { readonly type: 'changed'; readonly method: string; readonly path: string }
  /** A download's bytes sent so far (to the session that asked for it with ?transfer=<token>). */
  | { readonly type: 'transfer'; readonly transfer: string; readonly bytes: number; readonly done: boolean; readonly ok: boolean };

interface Data {
  readonly token: string;
  readonly remote: string;
}

export class ManagerEvents {
  private readonly sockets = new Set<WebSocket<Data>>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly auth: ManagerAuth,
    private readonly log: Logger,
  ) {}

  /** Sends `event` to every open socket whose session is still alive (only those of session `only`, when given). */
  publish(event: ManagerEvent, only?: string): void {
    if (this.sockets.size === 0) return;
    const text = JSON.stringify(event);
    for (const ws of this.sockets) {
      if (only !== undefined && ws.getUserData().token !== only) continue;
      if (!this.alive(ws)) continue;
      if (ws.getBufferedAmount() > MAX_BUFFERED) {
        ws.end(1013, 'too slow: reconnect and reload');
        continue;
      }
      ws.send(text, false);
    }
  }

  /** Closes the sockets whose session has ended (called after a logout or a password change, and every 30 s). */
  sweep(): void {
    for (const ws of this.sockets) this.alive(ws);
  }

  /** The supervisor stops: open sockets are told so (1001), and the sweep ends. */
  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const ws of [...this.sockets]) ws.end(1001, 'the supervisor is stopping');
  }

  /** Mounts the socket on `app` (before the catch-all WebSocket route). */
  mount(app: TemplatedApp, secure: boolean): void {
    app.ws<Data>(EVENTS_PATH, {
      maxPayloadLength: 1024,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      maxBackpressure: MAX_BUFFERED * 2,
      upgrade: (res, req, context) => this.upgrade(res, req, context, secure),
      open: (ws) => {
        this.sockets.add(ws);
        if (!this.sweeper) this.sweeper = setInterval(() => this.sweep(), SWEEP_MS).unref();
        ws.send(JSON.stringify({ type: 'hello' }), false);
      },
      message: (ws) => ws.end(1003, 'this socket only sends'),
      close: (ws) => {
        this.sockets.delete(ws);
        if (this.sockets.size === 0 && this.sweeper) {
          clearInterval(this.sweeper);
          this.sweeper = null;
        }
      },
    });
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t, secure: boolean): void {
    const incoming = { origin: req.getHeader('origin'), host: req.getHeader('host'), secure };
    const token = sessionToken(req.getHeader('cookie'), this.auth);
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
    const refuse = (status: string, text: string): void => {
      res.cork(() => res.writeStatus(status).writeHeader('Content-Type', 'text/plain').writeHeader('Cache-Control', 'no-store').end(`${text}\n`));
    };
    if (!sameOrigin(incoming)) return refuse('403 Forbidden', 'this socket is for the Manager of this site only');
    const session = this.auth.peek(token);
    if (!session || !token) return refuse('401 Unauthorized', 'log in first');
    if (session.mustChangePassword) return refuse('403 Forbidden', 'choose a new Manager password first');
    res.cork(() => {
      res.upgrade<Data>({ token, remote }, key, protocol, extensions, context);
    });
  }

  /** Whether the socket's session lives; closes it (4001) when not. */
  private alive(ws: WebSocket<Data>): boolean {
    const { token, remote } = ws.getUserData();
    if (this.auth.peek(token)) return true;
    this.log.info(`Manager event socket of ${remote} closed: its session ended`);
    ws.end(4001, 'the session has ended');
    return false;
  }
}
