// The webserver: the one owner of uWebSockets.js. It serves the Manager's own
// routes under /manager/ and answers everything else with 404 (app routing
// arrives with the app services). It follows uWS's contracts: copy from `req`
// synchronously, onAborted before any await, cork every write after an await.
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { ApError } from '../errors';
import type { Logger } from '../log';
import { loadUws } from '../native';

export interface Health {
  /** HTTP status and JSON body for /manager/health. */
  readonly ok: boolean;
  readonly body: Record<string, unknown>;
}

export interface WebserverOptions {
  readonly host: string;
  readonly httpPort: number;
  readonly log: Logger;
  /** Computes /manager/health; may query the database. */
  readonly health: () => Promise<Health>;
}

export interface Webserver {
  /** The port HTTP listens on (the configured one, or the one picked for 0). */
  readonly httpPort: number;
  /** Base URL for people, e.g. http://127.0.0.1:8080/ */
  readonly url: string;
  /** Stops accepting connections. */
  close(): void;
}

/** Starts listening; throws LISTEN_FAILED when the port cannot be bound. */
export async function startWebserver(options: WebserverOptions): Promise<Webserver> {
  const uws = loadUws();
  const app = uws.App();
  routes(app, options);
  const socket = await new Promise<us_listen_socket | false>((resolve) => app.listen(options.host, options.httpPort, resolve));
  if (!socket) {
    throw new ApError(
      'LISTEN_FAILED',
      `cannot listen on ${options.host} port ${options.httpPort}: is it in use, or does it need root (ports below 1024)?`,
    );
  }
  const httpPort = uws.us_socket_local_port(socket);
  const url = `http://${urlHost(options.host)}:${httpPort}/`;
  options.log.info(`listening on ${url}`);
  let closed = false;
  return {
    httpPort,
    url,
    close() {
      if (closed) return;
      closed = true;
      uws.us_listen_socket_close(socket);
    },
  };
}

function routes(app: TemplatedApp, options: WebserverOptions): void {
  app.get('/manager/health', (res, _req) => {
    const request = track(res);
    options.health().then(
      (health) => send(request, health.ok ? '200 OK' : '503 Service Unavailable', JSON_TYPE, JSON.stringify(health.body)),
      (err) => {
        options.log.error(`health check failed: ${(err as Error).message}`);
        send(request, '500 Internal Server Error', JSON_TYPE, JSON.stringify({ status: 'error' }));
      },
    );
  });
  app.get('/manager', (res) => {
    res.writeStatus('301 Moved Permanently').writeHeader('Location', '/manager/').end();
  });
  app.get('/manager/', (res) => {
    res.writeHeader('Content-Type', 'text/html; charset=utf-8').end(MANAGER_PAGE);
  });
  app.any('/*', (res, req: HttpRequest) => {
    const url = req.getUrl();
    res.writeStatus('404 Not Found').writeHeader('Content-Type', TEXT_TYPE).end(`not found: ${url}\n`);
  });
}

const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';

/** Our per-request state; never properties on uWS objects. */
interface Request {
  readonly res: HttpResponse;
  aborted: boolean;
}

function track(res: HttpResponse): Request {
  const request: Request = { res, aborted: false };
  res.onAborted(() => {
    request.aborted = true;
  });
  return request;
}

function send(request: Request, status: string, type: string, body: string): void {
  if (request.aborted) return;
  request.res.cork(() => {
    request.res.writeStatus(status).writeHeader('Content-Type', type).writeHeader('Cache-Control', 'no-store').end(body);
  });
}

function urlHost(host: string): string {
  if (host === '::' || host === '0.0.0.0' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

const MANAGER_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>App Platform Manager</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>App Platform Manager</h1>
<p>The supervisor is running. Its state: <a href="/manager/health">/manager/health</a>.</p>
</body>
</html>
`;
