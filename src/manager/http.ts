// The admin API over HTTP at /manager/api/: the same route table `ap ctl`
// reaches over the admin socket, behind the Manager login. Sessions ride in an
// HttpOnly, SameSite=Strict cookie (Secure over HTTPS); a request that changes
// state (POST, PUT, PATCH, DELETE) also needs the session's CSRF token in
// X-CSRF-Token, or an Origin header naming this very host and port (the apps'
// origin is on the same host, so SameSite lets their requests carry the
// cookie: the port is what tells them apart). GET never changes
// state. While the password is still the default, a session may only change it.
// A program sends an API token instead (Authorization: Bearer, src/tokens):
// no cookie and no CSRF token, since a browser never sends that header by
// itself; the token's scopes are checked before anything runs.
// Downloads stream with uWS backpressure; uploads stream in, paused while the
// consumer is behind, and are answered once their body is in (transfer.ts).
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { errorBody, httpStatus, openApiDocument, StreamBody, T, type Api, type ApiResponse } from '../api';
import type { ManagerAuth } from '../auth';
import type { ManagerEvents } from './events';
import { ApError, describe, InvalidField, type ErrorCode } from '../errors';
import type { Logger } from '../log';
import { API_PREFIX, sameOrigin, sessionCookie, sessionToken } from '../origin';
import { bearerToken, scopeRefusal, type ApiTokens, type Grant } from '../tokens';
import { checkUploadLength, downloadHeadOnly, Exchange, streamChunks, uploadStream, type Upload } from './transfer';
import { SessionView } from './views';

const MAX_JSON = 1024 * 1024;
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export interface ManagerHttpOptions {
  readonly api: () => Api | null;
  readonly auth: () => ManagerAuth | null;
  readonly tokens: () => Pick<ApiTokens, 'authenticate'> | null;
  readonly log: Logger;
  readonly version: string;
  /** The push channel at /manager/api/events, if the Manager has one. */
  readonly events?: ManagerEvents;
}

/** The routes the transport serves itself, for the OpenAPI document. */
export const SESSION_ROUTES = [
  { method: 'POST', pattern: '/session', anonymous: true, body: T.Object({ password: T.String() }), response: SessionView, errors: ['LOGIN_FAILED', 'BAD_ORIGIN', 'TOO_MANY_ATTEMPTS', 'BUSY'], summary: 'log in ({"password"}): sets the session cookie; answers the CSRF token and whether the password must be changed first; 429 when the address made too many attempts (counted as they arrive), 503 when too many are being checked' },
  { method: 'GET', pattern: '/session', response: SessionView, summary: 'the current session: its CSRF token and whether the password must be changed' },
  { method: 'DELETE', pattern: '/session', response: T.Object({ loggedOut: T.Literal(true) }), summary: 'log out' },
  { method: 'GET', pattern: '/events', summary: 'a WebSocket (upgrade; the Manager\'s own Origin, scheme, host and port, and a session): JSON texts of what changes: {type: "job"} with progress, {type: "service"} states, {type: "alarm"}, {type: "changed"} for any change by any client, {type: "transfer"} for a download asked with ?transfer=<token> (to that session only)' },
  { method: 'POST', pattern: '/password', body: T.Object({ current: T.String(), password: T.String() }), response: T.Object({ changed: T.Literal(true) }), errors: ['LOGIN_FAILED', 'TOO_MANY_ATTEMPTS'], summary: 'change the Manager password ({"current", "password"}): at least 8 characters, not a common or breached one, no repeated character, sequence or product word; a wrong current password counts as a failed login (429 when over the limit); other sessions end' },
] as const;

interface Incoming {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly cookie: string;
  readonly origin: string;
  readonly host: string;
  readonly csrf: string;
  readonly authorization: string;
  readonly remote: string;
  readonly secure: boolean;
  /** A HEAD request, answered as GET without the body. */
  readonly head: boolean;
}

export function mountManagerApi(app: TemplatedApp, options: ManagerHttpOptions, secure: boolean): void {
  app.any(`${API_PREFIX}/*`, (res, req) => handle(res, req, options, secure));
}

function handle(res: HttpResponse, req: HttpRequest, options: ManagerHttpOptions, secure: boolean): void {
  const method = req.getMethod().toUpperCase();
  const incoming: Incoming = {
    // HEAD is answered as GET; the webserver's HEAD response drops the body.
    method: method === 'HEAD' ? 'GET' : method,
    head: method === 'HEAD',
    path: req.getUrl().slice(API_PREFIX.length) || '/',
    query: req.getQuery() ?? '',
    cookie: req.getHeader('cookie'),
    origin: req.getHeader('origin'),
    host: req.getHeader('host'),
    csrf: req.getHeader('x-csrf-token'),
    authorization: req.getHeader('authorization'),
    remote: Buffer.from(res.getRemoteAddressAsText()).toString(),
    secure,
  };
  const state = new Exchange();
  let upload: Upload | null = null;
  res.onAborted(() => {
    state.markCut();
    upload?.abort();
  });
  const api = options.api();
  const auth = options.auth();
  const tokens = options.tokens();
  if (!api || !auth || !tokens) return send(res, state, { status: 503, body: { error: { code: 'STARTING', message: 'the Manager is starting' } } });
  // 'http': the admin socket's local routes are not found here (src/api).
  const route = api.find(incoming.method, incoming.path, 'http');
  if (route?.upload) {
    // A size that cannot be right is refused before any job starts (and before a byte is read).
    const bad = checkUploadLength(req, route.maxUpload?.() ?? Number.MAX_SAFE_INTEGER);
    if (bad) return send(res, state, { status: httpStatus(bad.code), body: errorBody(bad) }, [], true);
    upload = uploadStream(res);
  }
  const body: Body = upload ? { upload } : readJson(res, incoming.method, incoming.method === 'GET' ? null : checkUploadLength(req, MAX_JSON, 'the request body'));
  serve(incoming, body, api, auth, tokens, options, res, state, route?.secret === true).catch((err: unknown) => {
    // The caller's own mistake (a login or password change whose body is not JSON) is its
    // status, 400; only what is ours is a 500 and an error in the log.
    const status = err instanceof ApError && httpStatus(err.code) < 500 ? httpStatus(err.code) : 500;
    if (status >= 500) options.log.error(`${incoming.method} ${API_PREFIX}${incoming.path}: ${describe(err)}`);
    refuse(res, state, body, { status, body: errorBody(err) });
  });
}

async function serve(
  incoming: Incoming,
  body: Body,
  api: Api,
  auth: ManagerAuth,
  tokens: Pick<ApiTokens, 'authenticate'>,
  options: ManagerHttpOptions,
  res: HttpResponse,
  state: Exchange,
  /** The route's answer holds secrets (ApiRoute.secret): not for a read token. */
  secret: boolean,
): Promise<void> {
  const { method, path } = incoming;
  const fail = (code: ErrorCode, message: string) => refuse(res, state, body, { status: httpStatus(code), body: { error: { code, message } } });
  const answerError = (err: unknown) => {
    if (!(err instanceof ApError) || httpStatus(err.code) >= 500) throw err;
    return refuse(res, state, body, { status: httpStatus(err.code), body: errorBody(err) });
  };

  if (path === '/openapi.json' && method === 'GET') {
    return send(res, state, { status: 200, body: openApiDocument(api.routes, { title: 'App Platform Manager API', version: options.version, extra: SESSION_ROUTES }) });
  }
  const bearer = bearerToken(incoming.authorization);
  if (bearer !== null) {
    let grant: Grant;
    try {
      grant = await tokens.authenticate(bearer, incoming.remote);
    } catch (err) {
      return answerError(err);
    }
    const refusal = scopeRefusal(grant.scopes, method, path, secret);
    if (refusal) return fail('TOKEN_SCOPE', refusal);
    return runRoute(incoming, body, api, options, res, state, null, `API token ${grant.name} (${grant.id}) from ${incoming.remote}`, `token:${grant.id}`);
  }
  const token = sessionToken(incoming.cookie, auth);
  // Login (and a cross-site login form: the Origin, when sent, must be ours).
  if (path === '/session' && method === 'POST') {
    if (incoming.origin && !sameOrigin(incoming)) return fail('BAD_ORIGIN', 'this request comes from another site');
    const json = await jsonObject(body);
    try {
      const { token: fresh, session } = await auth.login(json.password, incoming.remote);
      return send(res, state, { status: 200, body: { csrf: session.csrf, mustChangePassword: session.mustChangePassword } satisfies SessionView }, [sessionCookie(fresh, incoming.secure)]);
    } catch (err) {
      return answerError(err);
    }
  }
  const session = auth.session(token);
  if (!session) {
    return fail('UNAUTHENTICATED', 'log in first (POST /manager/api/session)');
  }
  if (STATE_CHANGING.has(method) && !auth.csrfMatches(session, incoming.csrf || null) && !(incoming.origin && sameOrigin(incoming))) {
    return fail('CSRF', 'a request that changes something needs the X-CSRF-Token header (or an Origin of this site)');
  }
  if (path === '/session' && method === 'GET') return send(res, state, { status: 200, body: { csrf: session.csrf, mustChangePassword: session.mustChangePassword } satisfies SessionView });
  if (path === '/session' && method === 'DELETE') {
    auth.logout(token);
    return send(res, state, { status: 200, body: { loggedOut: true } }, [sessionCookie('', incoming.secure, true)]);
  }
  if (path === '/password' && method === 'POST') {
    const json = await jsonObject(body);
    try {
      await auth.changePassword(token!, json.current, json.password, incoming.remote);
    } catch (err) {
      if (err instanceof ApError) return send(res, state, { status: httpStatus(err.code), body: errorBody(err) });
      throw err;
    }
    return send(res, state, { status: 200, body: { changed: true } });
  }
  if (session.mustChangePassword) {
    return fail('PASSWORD_CHANGE_REQUIRED', 'the Manager password is still the default: choose a new one first (POST /manager/api/password)');
  }
  return runRoute(incoming, body, api, options, res, state, token, `a Manager session from ${incoming.remote}`, 'session');
}

/**
 * The query's parameters, each once: `?domain=a&domain=b` is a mistake (which
 * one did the caller mean?), refused before anything runs rather than read as
 * the last.
 */
function queryOf(text: string): Record<string, string> | ApError {
  const query: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in query) return new InvalidField(name, 'given more than once in the query');
    query[name] = value;
  }
  return query;
}

/** Runs the route for a caller let in: a session (`token`, whose event socket hears of downloads) or an API token (null); `actor` says who, for the log of changes, `caller` for the handler (ApiRequest.caller). */
async function runRoute(incoming: Incoming, body: Body, api: Api, options: ManagerHttpOptions, res: HttpResponse, state: Exchange, token: string | null, actor: string, caller: string): Promise<void> {
  const { method, path } = incoming;
  const value = 'upload' in body ? body.upload.chunks : await body.json.catch((err: ApError) => err);
  if (value instanceof ApError) return send(res, state, { status: httpStatus(value.code), body: errorBody(value) }, [], unread(body));
  const query = queryOf(incoming.query);
  if (query instanceof ApError) return send(res, state, { status: httpStatus(query.code), body: errorBody(query) });
  // A HEAD gets no body: it is never the caller an answer hands something out to once (an install's password).
  const asked = incoming.head ? `${caller} (HEAD)` : caller;
  const answer = await api.handle({ method, path, query, body: value, actor, caller: asked }, (err, status) => options.log[status >= 500 ? 'error' : 'warn'](`${method} ${API_PREFIX}${path}: ${describe(err)}`), 'http');
  if (answer.body instanceof StreamBody) {
    if (incoming.head) return downloadHeadOnly(res, state, answer.body, SECURITY_HEADERS);
    // ?transfer=<token>: the page that started the download follows it on the event socket.
    const transfer = new URLSearchParams(incoming.query).get('transfer');
    const events = options.events;
    // Told on the session's own event socket: a token has none.
    const report = transfer && TRANSFER.test(transfer) && events && token ? (bytes: number, done: boolean, ok: boolean) => events.publish({ type: 'transfer', transfer, bytes, done, ok }, token) : undefined;
    return streamOut(res, state, answer.body, report);
  }
  if (answer.status >= 400) return refuse(res, state, body, answer);
  if ('upload' in body) {
    // Answered only when the body is in: until then uWS tells us if the client goes away
    // (after an answer it would not), and the job hears of it at once.
    await body.upload.settled;
    return send(res, state, answer, [], unread(body));
  }
  send(res, state, answer);
}

/**
 * A request body: JSON (read whole, at most MAX_JSON; `complete` once its
 * last byte is in) or an upload (read as it is consumed).
 */
type Body = { readonly json: Promise<unknown>; readonly complete: () => boolean } | { readonly upload: Upload };

/** Whether an answer now leaves bytes of the body unread: then the connection closes after it (they would be read as the next request). */
function unread(body: Body): boolean {
  return 'upload' in body ? !body.upload.complete() : !body.complete();
}

/**
 * Answers a request that is refused. A JSON body (bounded) is read first; an
 * upload is not read at all: it stops, and the connection closes after the
 * answer, so a refused client cannot make us take its bytes.
 */
function refuse(res: HttpResponse, state: Exchange, body: Body, answer: ApiResponse): void {
  if ('upload' in body) {
    body.upload.abort(new ApError('UPLOAD_REFUSED', 'the upload was refused'));
    return send(res, state, answer, [], true);
  }
  body.json.then(
    () => send(res, state, answer),
    () => send(res, state, answer, [], unread(body)),
  );
}

const SECURITY_HEADERS: [string, string][] = [
  ['Cache-Control', 'no-store'],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Frame-Options', 'DENY'],
];

function send(res: HttpResponse, state: Exchange, answer: ApiResponse, cookies: string[] = [], close = false): void {
  if (state.aborted) return;
  state.aborted = true; // answered: nothing more goes out on this response
  res.cork(() => {
    res.writeStatus(`${answer.status} ${answer.status < 400 ? 'OK' : 'Error'}`);
    for (const [k, v] of SECURITY_HEADERS) res.writeHeader(k, v);
    for (const c of cookies) res.writeHeader('Set-Cookie', c);
    res.writeHeader('Content-Type', 'application/json; charset=utf-8').end(JSON.stringify(answer.body), close);
  });
}

/** A download's progress token, chosen by the page. */
const TRANSFER = /^[A-Za-z0-9_-]{8,64}$/;
/** Progress of a download is told at most this often. */
const TRANSFER_EVERY_MS = 250;

/** A download, with backpressure (transfer.ts). `report` hears the bytes sent. */
async function streamOut(res: HttpResponse, state: Exchange, body: StreamBody, report?: (bytes: number, done: boolean, ok: boolean) => void): Promise<void> {
  let sent = 0;
  let toldAt = 0;
  let ok = false;
  try {
    await streamChunks(res, state, body, SECURITY_HEADERS, (bytes) => {
      sent += bytes;
      const now = Date.now();
      if (report && now - toldAt >= TRANSFER_EVERY_MS) {
        toldAt = now;
        report(sent, false, false);
      }
    });
    ok = !state.cut;
  } finally {
    report?.(sent, true, ok);
  }
}

/**
 * The JSON body (empty: {}), at most MAX_JSON bytes. One declared larger
 * (`tooLarge`) is refused before a byte is read, one that grows larger as
 * soon as it does: nobody can make us read (and drop) a body without end.
 */
function readJson(res: HttpResponse, method: string, tooLarge: ApError | null): Body & { readonly json: Promise<unknown> } {
  let complete = method === 'GET' || method === 'HEAD';
  const json = new Promise<unknown>((resolve, reject) => {
    if (complete) return resolve({});
    if (tooLarge) return reject(tooLarge);
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (isLast) complete = true;
      if (size > MAX_JSON) return;
      size += chunk.byteLength;
      if (size > MAX_JSON) return reject(new ApError('UPLOAD_TOO_LARGE', `the request body is larger than the ${MAX_JSON} bytes a request takes`));
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ApError('BAD_REQUEST', 'the request body is not JSON'));
      }
    });
  });
  // The body is read while the caller is still being let in (a token is looked
  // up in the database): a bad body can be refused before anyone awaits it, and
  // an unhandled rejection stops the supervisor. Whoever awaits it later still
  // gets the rejection; this only marks it as handled.
  json.catch(() => undefined);
  return { json, complete: () => complete };
}

/** The JSON body as an object ({} for anything else); a body that is not JSON is an ApError. */
async function jsonObject(body: Body): Promise<Record<string, unknown>> {
  if (!('json' in body)) return {};
  const value = await body.json;
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
