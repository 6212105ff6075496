// The webserver: the one owner of uWebSockets.js. One event loop serves HTTP
// and HTTPS (same routes), the Manager's own routes under /manager/, and every
// instance's HTTP requests and WebSockets, routed by URL path prefix to its
// app service's channel. Anything else is 404. It follows uWS's contracts:
// copy from `req` synchronously, onAborted before any await, cork every write
// made after an await, and respect backpressure both ways.
import { readFile } from 'node:fs/promises';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { ApError } from '../errors';
import type { Logger } from '../log';
import { loadUws } from '../native';
import { mountManagerApi, type ManagerHttpOptions } from '../manager/http';
import { loadUi, mountUi } from '../manager/ui';
import { httpStats, proxyHttp, reply, type ProxyLimits } from './proxy';
import type { RouteTable } from './routes';
import { serveStatic } from './static';
import { shown, strictApp } from './strict';
import type { Upstreams } from './upstream';
import { closeInstanceConnections, websocketBehavior, websocketState, type Shared, type WsLimits } from './websocket';

export { RouteTable, type Route } from './routes';
export type { StreamHandler, Upstream, Upstreams } from './upstream';
export type { WebContent, WebFile } from './static';

export interface Health {
  readonly ok: boolean;
  readonly body: Record<string, unknown>;
}

export interface WebserverOptions {
  readonly host: string;
  readonly httpPort: number;
  /** HTTPS port and the certificate files, or null for no HTTPS. */
  readonly https: { readonly port: number; readonly certFile: string; readonly keyFile: string } | null;
  readonly maxHeaderBytes: number;
  readonly http: ProxyLimits;
  readonly ws: WsLimits;
  readonly routes: () => RouteTable;
  readonly upstreams: Upstreams;
  readonly log: Logger;
  /** Computes /manager/health; may query the database. */
  readonly health: () => Promise<Health>;
  /** The Manager UI's built files (dist/manager), served at /manager/. */
  readonly uiDir?: string;
  /** The admin API over HTTP (/manager/api/), behind the Manager login. */
  readonly manager?: ManagerHttpOptions;
  /** /manager/boot: the gateway boot settings, read-only (the gateway's admin UI reads them). */
  readonly boot?: () => Promise<Record<string, unknown>>;
  /** /manager/ramdisk.log: the rescue system's log on p2. */
  readonly ramdiskLog?: string;
  /** /manager/metrics in the Prometheus text format, or null before monitoring runs. */
  readonly metrics?: () => string | null;
}

export interface Webserver {
  readonly httpPort: number;
  readonly httpsPort: number | null;
  /** Base URL for people, e.g. http://127.0.0.1:8080/ */
  readonly url: string;
  /** Serves HTTPS with new certificate files from now on (open connections keep theirs). */
  reloadCertificate(certFile: string, keyFile: string): Promise<void>;
  /** Open HTTP requests and WebSockets (total and per instance), for the metrics. */
  stats(): { httpOpen: number; httpTotal: number; websockets: number; websocketsByInstance: ReadonlyMap<string, number> };
  /** Ends the client WebSockets of instance `id` (name@domain); returns how many. */
  closeInstance(id: string, code: number, reason: string): number;
  /** Stops accepting connections. */
  close(): void;
}

/** Starts listening; throws LISTEN_FAILED when a port cannot be bound. */
export async function startWebserver(options: WebserverOptions): Promise<Webserver> {
  // uWS reads its header limit from the environment when it loads.
  process.env.UWS_HTTP_MAX_HEADERS_SIZE = String(options.maxHeaderBytes);
  const uws = loadUws();
  const sockets: us_listen_socket[] = [];
  const wsShared = websocketState(options.upstreams, options.ws);
  const ui = loadUi(options.uiDir ?? '');

  const listen = async (app: TemplatedApp, port: number, scheme: string): Promise<[us_listen_socket, number]> => {
    routes(app, options, wsShared, scheme === 'HTTPS', ui);
    const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen(options.host, port, resolve));
    if (!socket) {
      throw new ApError('LISTEN_FAILED', `cannot listen for ${scheme} on ${options.host} port ${port}: is it in use, or does it need root (ports below 1024)?`);
    }
    return [socket, uws.us_socket_local_port(socket)];
  };

  const [httpSocket, httpPort] = await listen(uws.App(), options.httpPort, 'HTTP');
  sockets.push(httpSocket);
  let httpsSocket: us_listen_socket | null = null;
  let httpsPort: number | null = null;
  const startHttps = async (certFile: string, keyFile: string, port: number) => {
    const app = uws.SSLApp({ cert_file_name: certFile, key_file_name: keyFile });
    const [socket, bound] = await listen(app, port, 'HTTPS');
    return { socket, bound };
  };
  if (options.https) {
    const { socket, bound } = await startHttps(options.https.certFile, options.https.keyFile, options.https.port);
    httpsSocket = socket;
    httpsPort = bound;
  }
  const url = `http://${urlHost(options.host)}:${httpPort}/`;
  options.log.info(`listening on ${url}${httpsPort === null ? '' : ` and https://${urlHost(options.host)}:${httpsPort}/`}`);
  let closed = false;
  return {
    httpPort,
    httpsPort,
    url,
    async reloadCertificate(certFile, keyFile) {
      if (closed || httpsSocket === null || httpsPort === null) return;
      // uWS reads certificates only when an app is made: close the listener, open a new one.
      uws.us_listen_socket_close(httpsSocket);
      const { socket } = await startHttps(certFile, keyFile, httpsPort);
      httpsSocket = socket;
    },
    stats() {
      let websockets = 0;
      for (const n of wsShared.countByInstance.values()) websockets += n;
      return { httpOpen: httpStats.open, httpTotal: httpStats.total, websockets, websocketsByInstance: wsShared.countByInstance };
    },
    closeInstance(id, code, reason) {
      return closeInstanceConnections(wsShared, id, code, reason);
    },
    close() {
      if (closed) return;
      closed = true;
      for (const socket of sockets) uws.us_listen_socket_close(socket);
      if (httpsSocket) uws.us_listen_socket_close(httpsSocket);
    },
  };
}

function routes(uwsApp: TemplatedApp, options: WebserverOptions, wsShared: Shared, secure: boolean, ui: ReturnType<typeof loadUi>): void {
  // Every HTTP route, the Manager's included, behind the same head limit and framing checks.
  const app = strictApp(uwsApp, options.maxHeaderBytes, secure);
  if (options.manager) {
    options.manager.events?.mount(app, secure);
    mountManagerApi(app, options.manager, secure);
  }
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
  app.get('/manager/metrics', (res) => {
    const text = options.metrics?.() ?? null;
    if (text === null) return reply(res, 503, 'metrics are not collected yet\n');
    res.writeHeader('Content-Type', 'text/plain; version=0.0.4; charset=utf-8').writeHeader('Cache-Control', 'no-store').end(text);
  });
  app.get('/manager', (res) => {
    res.writeStatus('301 Moved Permanently').writeHeader('Location', '/manager/').end();
  });
  mountUi(app, ui);
  app.ws('/*', websocketBehavior(options.routes, wsShared));
  app.any('/*', (res, req) => {
    const url = req.getUrl();
    const route = url.startsWith('/manager/') ? null : options.routes().match(url);
    if (!route) return reply(res, 404, `not found: ${shown(url)}\n`);
    const upstream = options.upstreams.get(route.service);
    if (upstream?.web && serveStatic(res, req, route.prefix, url.slice(route.prefix.length), upstream.web)) return;
    proxyHttp(res, req, route, upstream, options.http);
  });
}

function json(res: import('uWebSockets.js').HttpResponse, status: string, body: unknown): void {
  res.writeStatus(status).writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(JSON.stringify(body));
}

function urlHost(host: string): string {
  if (host === '::' || host === '0.0.0.0' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
