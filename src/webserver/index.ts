// The webserver: the one owner of uWebSockets.js. One event loop serves two
// pairs of listeners (HTTP and HTTPS each):
// - the apps': every instance's HTTP requests and WebSockets, routed by URL
//   path prefix to its app service's channel, and the few /manager/ paths the
//   vendor's clients read (health, boot, ramdisk.log, metrics); the Manager's
//   UI and API there only point to the Manager's own origin;
// - the Manager's: its UI, /manager/api/ and the event socket, and the same
//   few /manager/ paths; nothing of an app, so no app's content ever runs in
//   the origin that holds the Manager's session.
// Anything else is 404. It follows uWS's contracts: copy from `req`
// synchronously, onAborted before any await, cork every write made after an
// await, and respect backpressure both ways.
import { readFile } from 'node:fs/promises';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { ApError } from '../errors';
import type { Logger } from '../log';
import { loadUws } from '../native';
import { API_PREFIX, managerUrl, urlHost } from '../origin';
import { httpStats, proxyHttp, type NextProcess, type ProxyLimits } from './proxy';
import type { AccessLog } from './access';
import { reply } from './reply';
import { RouteTable, type Route } from './routes';
import { serveStatic } from './static';
import { shown, strictApp } from './strict';
import type { Upstream, Upstreams } from './upstream';
import { closeInstanceConnections, websocketBehavior, websocketState, type Shared, type WsLimits } from './websocket';

export { RouteTable, type Route } from './routes';
export { AccessLog } from './access';
export type { StreamHandler, Upstream, Upstreams } from './upstream';
export type { WebContent, WebFile } from './static';

/** The Manager's routes (its UI, API and event socket), mounted on its listeners only; the webserver is their transport. */
export interface ManagerSite {
  mount(app: TemplatedApp, secure: boolean): void;
}

export interface Health {
  readonly ok: boolean;
  readonly body: Record<string, unknown>;
}

export interface WebserverOptions {
  readonly host: string;
  readonly httpPort: number;
  /** The Manager's own HTTP port (an origin apart from the apps'). */
  readonly managerHttpPort: number;
  /** HTTPS ports (the apps' and the Manager's) and the certificate files, or null for no HTTPS. */
  readonly https: { readonly port: number; readonly managerPort: number; readonly certFile: string; readonly keyFile: string } | null;
  readonly maxHeaderBytes: number;
  readonly http: ProxyLimits;
  readonly ws: WsLimits;
  /** The instances' routes as they publish them (a new list on every change); the webserver builds its table from them. */
  readonly routes: () => readonly Route[];
  readonly upstreams: Upstreams;
  readonly log: Logger;
  /** Computes /manager/health; may query the database. */
  readonly health: () => Promise<Health>;
  /** The Manager's UI, admin API (/manager/api/, behind its login) and event socket. */
  readonly manager?: ManagerSite;
  /** /manager/boot: the gateway boot settings, read-only (the gateway's admin UI reads them). */
  readonly boot?: () => Promise<Record<string, unknown>>;
  /** /manager/ramdisk.log: the rescue system's log on p2. */
  readonly ramdiskLog?: string;
  /** The access log (setting accessLog): written to while it is on. */
  readonly accessLog?: AccessLog;
  /** /manager/metrics in the Prometheus text format, or null before monitoring runs. */
  readonly metrics?: () => string | null;
  /** Whether a client (its address and Authorization header) may read /manager/metrics. */
  readonly metricsAllowed: (remote: string, authorization: string) => Promise<boolean>;
}

export interface Webserver {
  readonly httpPort: number;
  readonly httpsPort: number | null;
  readonly managerHttpPort: number;
  readonly managerHttpsPort: number | null;
  /** The apps' base URL for people, e.g. http://127.0.0.1:80/ */
  readonly url: string;
  /** The Manager's UI, e.g. http://127.0.0.1:8080/manager/ */
  readonly managerUrl: string;
  /** Serves HTTPS (apps' and Manager's) with new certificate files from now on (open connections keep theirs). */
  reloadCertificate(certFile: string, keyFile: string): Promise<void>;
  /** Open HTTP requests and WebSockets (total and per instance), for the metrics. */
  stats(): { httpOpen: number; httpTotal: number; websockets: number; websocketsByInstance: ReadonlyMap<string, number> };
  /** Ends the client WebSockets of instance `id` (name@domain); returns how many. */
  closeInstance(id: string, code: number, reason: string): number;
  /** Stops accepting connections (open ones end with the process). */
  stop(): Promise<void>;
}

/** Starts listening; throws LISTEN_FAILED when a port cannot be bound. */
export async function startWebserver(options: WebserverOptions): Promise<Webserver> {
  // uWS reads its header limit from the environment when it loads.
  process.env.UWS_HTTP_MAX_HEADERS_SIZE = String(options.maxHeaderBytes);
  const uws = loadUws();
  const wsShared = websocketState(options.upstreams, options.ws, options.accessLog);
  // The Manager's bound ports, which the apps' listeners point browsers to (known once it listens).
  const manager = { http: 0, https: null as number | null };

  const listen = async (app: TemplatedApp, role: Role, secure: boolean, port: number): Promise<[us_listen_socket, number]> => {
    // Every HTTP route, the Manager's included, behind the same head limit and framing checks.
    const strict = strictApp(app, options.maxHeaderBytes, secure, options.accessLog);
    common(strict, options);
    if (role === 'manager') managerRoutes(strict, options, secure);
    else appRoutes(strict, options, wsShared, secure, manager);
    const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen(options.host, port, resolve));
    const what = `${role === 'manager' ? "the Manager's " : ''}${secure ? 'HTTPS' : 'HTTP'}`;
    if (!socket) {
      throw new ApError('LISTEN_FAILED', `cannot listen for ${what} on ${options.host} port ${port}: is it in use, or does it need root (ports below 1024)?`);
    }
    return [socket, uws.us_socket_local_port(socket)];
  };
  const sockets: us_listen_socket[] = [];
  const close = () => {
    for (const socket of sockets.splice(0)) uws.us_listen_socket_close(socket);
  };
  /**
   * Every app made, to end its open connections at stop: closing the listen
   * sockets alone leaves a browser's keep-alive connection served by this
   * stopped composition (its sessions, its closed pool) after the supervisor
   * composed itself again on the same port. The binary has App.close(); the
   * package's types do not list it.
   */
  const apps: TemplatedApp[] = [];
  const made = (app: TemplatedApp) => (apps.push(app), app);
  const endConnections = () => {
    for (const app of apps.splice(0)) (app as TemplatedApp & { close?: () => void }).close?.();
  };
  /** HTTPS listeners, reopened when the certificate changes (uWS reads it only when an app is made). */
  const secure: { role: Role; port: number; socket: us_listen_socket }[] = [];
  try {
    const [managerSocket, managerHttp] = await listen(made(uws.App()), 'manager', false, options.managerHttpPort);
    sockets.push(managerSocket);
    manager.http = managerHttp;
    const [httpSocket, httpPort] = await listen(made(uws.App()), 'apps', false, options.httpPort);
    sockets.push(httpSocket);
    if (options.https) {
      const { certFile, keyFile } = options.https;
      for (const [role, port] of [['manager', options.https.managerPort], ['apps', options.https.port]] as const) {
        const [socket, bound] = await listen(made(uws.SSLApp({ cert_file_name: certFile, key_file_name: keyFile })), role, true, port);
        secure.push({ role, port: bound, socket });
        if (role === 'manager') manager.https = bound;
      }
    }
    const httpsPort = secure.find((s) => s.role === 'apps')?.port ?? null;
    const host = urlHost(options.host);
    const url = `http://${host}:${httpPort}/`;
    const managerUi = `http://${host}:${manager.http}/manager/`;
    options.log.info(`listening on ${url}${httpsPort === null ? '' : ` and https://${host}:${httpsPort}/`}, the Manager on ${managerUi}${manager.https === null ? '' : ` and https://${host}:${manager.https}/manager/`}`);
    let closed = false;
    return {
      httpPort,
      httpsPort,
      managerHttpPort: manager.http,
      managerHttpsPort: manager.https,
      url,
      managerUrl: managerUi,
      async reloadCertificate(certFile, keyFile) {
        for (const listener of secure) {
          if (closed) return;
          uws.us_listen_socket_close(listener.socket);
          [listener.socket] = await listen(made(uws.SSLApp({ cert_file_name: certFile, key_file_name: keyFile })), listener.role, true, listener.port);
        }
      },
      stats() {
        let websockets = 0;
        for (const n of wsShared.countByInstance.values()) websockets += n;
        return { httpOpen: httpStats.open, httpTotal: httpStats.total, websockets, websocketsByInstance: wsShared.countByInstance };
      },
      closeInstance(id, code, reason) {
        return closeInstanceConnections(wsShared, id, code, reason);
      },
      async stop() {
        if (closed) return;
        closed = true;
        close();
        for (const listener of secure) uws.us_listen_socket_close(listener.socket);
        endConnections();
      },
    };
  } catch (err) {
    // A port that cannot be bound leaves nothing listening.
    close();
    for (const listener of secure) uws.us_listen_socket_close(listener.socket);
    throw err;
  }
}

type Role = 'apps' | 'manager';

/** What both pairs of listeners serve: the /manager/ paths the vendor's clients read. */
function common(app: TemplatedApp, options: WebserverOptions): void {
  app.get('/manager/health', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    options.health().then(
      (health) => {
        if (!aborted) res.cork(() => json(res, health.ok ? '200 OK' : '503 Service Unavailable', health.body));
      },
      (err) => {
        options.log.error(`health check failed: ${(err as Error).message}`);
        if (!aborted) res.cork(() => json(res, '500 Internal Server Error', { status: 'error' }));
      },
    );
  });
  app.get('/manager/boot', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    if (!options.boot) {
      reply(res, 404, 'no boot control here\n');
      return;
    }
    options.boot().then(
      (settings) => !aborted && res.cork(() => json(res, '200 OK', settings)),
      () => !aborted && res.cork(() => json(res, '500 Internal Server Error', { error: 'cannot read the boot settings' })),
    );
  });
  app.get('/manager/ramdisk.log', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const file = options.ramdiskLog;
    if (!file) {
      reply(res, 404, 'no ramdisk log\n');
      return;
    }
    readFile(file).then(
      (text) => !aborted && res.cork(() => res.writeHeader('Content-Type', 'text/plain; charset=utf-8').writeHeader('Cache-Control', 'no-store').end(text)),
      () => !aborted && res.cork(() => reply(res, 404, 'the rescue system has written no log yet\n')),
    );
  });
  app.get('/manager/metrics', (res, req) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
    options.metricsAllowed(remote, req.getHeader('authorization')).then(
      (ok) => {
        if (aborted) return;
        const text = ok ? (options.metrics?.() ?? null) : null;
        res.cork(() => {
          if (!ok) return reply(res, 403, 'the metrics are for this box only (see docs/monitoring.md: metricsAccess)\n');
          if (text === null) return reply(res, 503, 'metrics are not collected yet\n');
          res.writeHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8').writeHeader('Cache-Control', 'no-store').end(text);
        });
      },
      (err) => {
        options.log.error(`metrics access check failed: ${(err as Error).message}`);
        if (!aborted) res.cork(() => reply(res, 500, 'cannot check who may read the metrics\n'));
      },
    );
  });
}

/** The Manager's listener: its UI, its API and event socket; nothing of an app. */
function managerRoutes(app: TemplatedApp, options: WebserverOptions, secure: boolean): void {
  options.manager?.mount(app, secure);
  const toUi = (res: HttpResponse) => void res.writeStatus('301 Moved Permanently').writeHeader('Location', '/manager/').end();
  app.get('/manager', toUi);
  app.get('/', toUi);
  app.any('/*', (res, req) => reply(res, 404, `not found: ${shown(req.getUrl())} (this is the Manager's port: apps are served on the other)\n`));
}

/** The apps' listener: instances and their web content; the Manager's UI and API only point to the Manager's origin. */
function appRoutes(app: TemplatedApp, options: WebserverOptions, wsShared: Shared, secure: boolean, manager: { http: number; https: number | null }): void {
  const managerAt = (req: HttpRequest, path?: string) => managerUrl(req.getHeader('host'), options.host, secure, secure ? (manager.https ?? manager.http) : manager.http, path);
  const toManager = (res: HttpResponse, req: HttpRequest) => {
    res.writeStatus('302 Found').writeHeader('Location', managerAt(req)).writeHeader('Cache-Control', 'no-store').end();
  };
  app.get('/manager', toManager);
  app.get('/manager/', toManager);
  app.get('/manager/index.html', toManager);
  // Never a session here: an app's page on this origin must find nothing to act with.
  app.any(`${API_PREFIX}/*`, (res, req) => {
    const where = managerAt(req, `${API_PREFIX}/`);
    res.writeStatus('421 Misdirected Request').writeHeader('Cache-Control', 'no-store').writeHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ error: { code: 'MANAGER_ELSEWHERE', message: `the Manager's API is served on its own port: ${where}`, manager: where } }));
  });
  const routes = tableOf(options.routes);
  const next = nextProcess(options.upstreams);
  app.ws('/*', websocketBehavior(routes, wsShared));
  app.any('/*', (res, req) => {
    const url = req.getUrl();
    const route = url.startsWith('/manager/') ? null : routes().match(url);
    // A bare / is someone looking for the box: the Manager, unless an instance lives at /.
    if (!route && url === '/') return toManager(res, req);
    if (!route) return reply(res, 404, `not found: ${shown(url)}\n`);
    const upstream = options.upstreams.get(route.service);
    if (upstream?.web && serveStatic(res, req, route.prefix, url.slice(route.prefix.length), upstream.web)) return;
    proxyHttp(res, req, route, upstream, options.http, next);
  });
}

/** Waits for a service's next process: resolved when it runs, with 'stopped' when it stopped for good or failed, with null after `ms`. */
function nextProcess(upstreams: WebserverOptions['upstreams']): NextProcess {
  const waiting = new Map<string, Set<(upstream: Upstream | 'stopped') => void>>();
  upstreams.onState((service, state) => {
    const set = waiting.get(service);
    if (!set) return;
    const upstream = state === 'running' ? (upstreams.get(service) ?? 'stopped') : state === 'failed' || (state === 'stopped' && !upstreams.restarting?.(service)) ? 'stopped' : null;
    if (upstream === null) return;
    waiting.delete(service);
    for (const resolve of set) resolve(upstream);
  });
  return (service, ms) =>
    new Promise((resolve) => {
      let set = waiting.get(service);
      if (!set) waiting.set(service, (set = new Set()));
      const done = (upstream: Upstream | 'stopped') => {
        clearTimeout(timer);
        resolve(upstream);
      };
      const timer = setTimeout(() => {
        waiting.get(service)?.delete(done);
        resolve(null);
      }, ms);
      set.add(done);
    });
}

function json(res: import('uWebSockets.js').HttpResponse, status: string, body: unknown): void {
  res.writeStatus(status).writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(JSON.stringify(body));
}

/** The table of the routes `list` gives, built again only when the list is a new one. */
function tableOf(list: () => readonly Route[]): () => RouteTable {
  let from: readonly Route[] | null = null;
  let table = new RouteTable();
  return () => {
    const current = list();
    if (current !== from) {
      table = new RouteTable(current);
      from = current;
    }
    return table;
  };
}
