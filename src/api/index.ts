// The admin API: one table of resources (method + path pattern → handler),
// served over the local admin socket (`ap ctl`, root on the box) and, with the
// Manager UI, under /manager/api/ over HTTP. Errors carry the stable ApError
// code and map to one HTTP status each, so both transports say the same thing.
// A route marked `local` exists on the admin socket only: over HTTP it is
// answered as if it were not in the table.
import { ApError, errorSpec, InvalidField, InvalidFields, type ErrorCode } from '../errors';
import { check, knowFormats, type Static, type TSchema } from './schema';

export { Flag, T, type Static, type TSchema } from './schema';

export { openApiDocument } from './openapi';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiRequest {
  readonly method: string;
  /** Path below the API root, e.g. /instances/app@example.com/start */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Parsed JSON, or for routes that take an upload, the raw body as a stream. */
  readonly body?: unknown;
  /** Who asks (a Manager session, an API token, ap ctl), for the log of changes. */
  readonly actor?: string;
  /** Who asks, as handlers tell callers apart: `token:<id>`, `session` or `local` (never a secret). */
  readonly caller?: string;
}

/**
 * A download: the transport streams `chunks` as the response body. Only a
 * transport that can stream (HTTP) serves such routes; the admin socket says so.
 */
export class StreamBody {
  constructor(
    readonly chunks: AsyncIterable<Buffer>,
    readonly contentType: string,
    readonly filename: string,
    /** Stops the producer at once, even while it is waiting for its next chunk (the request ended). */
    readonly cancel?: () => void,
  ) {}
}

/** An upload's body: the bytes as they arrive (HTTP), for routes with `upload: true`. */
export type UploadBody = AsyncIterable<Buffer>;

/**
 * Who is asking: `http` (the Manager over /manager/api/: streams, no local
 * routes) or `local` (the admin socket: root on the box; JSON only, so no
 * uploads or downloads, and the local routes too).
 */
export type Transport = 'http' | 'local';

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
}

export interface HandlerInput {
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string>>;
  readonly body: unknown;
  /** ApiRequest.caller ('' when the transport named none; Api.handle always gives it). */
  readonly caller?: string;
}

export interface ApiRoute {
  readonly method: Method;
  /** Segments; `{name}` captures one (URL-decoded). */
  readonly pattern: string;
  readonly summary: string;
  /** Status on success (200 unless it creates). */
  readonly status?: number;
  /** Its body is an upload (a stream), not JSON: only a streaming transport (HTTP) can call it. */
  readonly upload?: boolean;
  /** The largest upload taken, in bytes (asked when a request arrives): a larger Content-Length is refused before the handler runs. */
  readonly maxUpload?: () => number;
  /** The JSON body taken, checked before the handler runs (a mismatch is INVALID_FIELD naming the field, and nothing runs). */
  readonly body?: TSchema;
  /** The query parameters taken (each a string), checked before the handler runs; others are ignored. */
  readonly query?: TSchema;
  /** What a success answers (JSON): the OpenAPI document shows it, and with `checkResponses` every answer is checked against it. */
  readonly response?: TSchema;
  /** A download instead of JSON: its media type, and whether it is text. */
  readonly download?: { readonly type: string; readonly text?: boolean };
  /** Error codes the handler may answer beyond the transport's and the input checks' (src/errors/codes.ts gives each its status). */
  readonly errors?: readonly ErrorCode[];
  /**
   * Served on the local admin socket only (root on the box may: a folder on
   * its disk, the Manager password without the old one, a full GC). Over HTTP
   * it is answered exactly as if it did not exist, and the OpenAPI document
   * (which describes the HTTP API) leaves it out.
   */
  readonly local?: boolean;
  /**
   * Its answer holds secrets: passwords that let one in elsewhere (an
   * instance's, a standby's) or a whole database (a backup). A `read` API
   * token, meant for scripts that look, may not GET it; `admin` may (and
   * `installer` below /installer). docs/api.md, *Scopes*.
   */
  readonly secret?: boolean;
  /** Groups the operation in the OpenAPI document (the first path segment unless said). */
  readonly tag?: string;
  /** What the log of changes says besides method and path (names, never values: they may be secrets). */
  readonly changeNote?: (body: unknown) => string;
  readonly handler: (input: HandlerInput) => Promise<unknown> | unknown;
}

/** A route whose handler gets its body and query typed by the route's own schemas. */
export interface TypedRoute<B extends TSchema, Q extends TSchema> extends Omit<ApiRoute, 'body' | 'query' | 'handler' | 'changeNote'> {
  readonly body?: B;
  readonly query?: Q;
  readonly changeNote?: (body: Static<B>) => string;
  readonly handler: (input: { readonly params: Readonly<Record<string, string>>; readonly query: Static<Q>; readonly body: Static<B>; readonly caller: string }) => Promise<unknown> | unknown;
}

/** Declares a route with schemas: the handler is typed from them, and runs only on input they accept. */
export function route<B extends TSchema = TSchema, Q extends TSchema = TSchema>(r: TypedRoute<B, Q>): ApiRoute {
  return r as unknown as ApiRoute;
}

/** The HTTP status of an error code (src/errors/codes.ts; 500 for a code not declared there). */
export function httpStatus(code: string): number {
  return errorSpec(code).status;
}

/** The JSON body of an error: {error: {code, message, field?, fields?}}. */
export function errorBody(err: unknown): { error: { code: string; message: string; field?: string; fields?: { field: string; message: string }[] } } {
  if (err instanceof InvalidFields) return { error: { code: err.code, message: clipped(err.message), field: err.field, fields: err.fields.map((f) => ({ field: f.field, message: clipped(f.reason) })) } };
  if (err instanceof InvalidField) return { error: { code: err.code, message: clipped(err.message), field: err.field } };
  if (err instanceof ApError) return { error: { code: err.code, message: clipped(err.message) } };
  return { error: { code: 'INTERNAL', message: 'internal error; the supervisor log has the details' } };
}

/**
 * An error message fit to send: messages may quote what the client sent (a
 * path, a value), so no word longer than 200 characters, no control
 * characters, at most 1000 characters in all.
 */
function clipped(message: string): string {
  const text = message.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '?').replace(/\S{201,}/g, (word) => `${word.slice(0, 200)}…`);
  return text.length > 1000 ? `${text.slice(0, 1000)}…` : text;
}

export interface ApiOptions {
  /** Hears every state-changing call (not GET) that succeeded, from either transport, and who made it: the Manager's event socket, the log. */
  readonly onChanged?: (method: string, path: string, actor: string, note?: string) => void;
  /**
   * Checks every JSON answer against its route's `response` schema; a mismatch
   * is a 500 INTERNAL (logged through `onError`, naming route and field).
   * For tests (AP_CHECK_RESPONSES=1): it proves the declared schemas, which
   * clients and the OpenAPI document rely on, say what handlers really answer.
   */
  readonly checkResponses?: boolean;
}

/** An answer its route's schema does not allow: our bug, never the client's. */
export class ResponseMismatch extends Error {
  constructor(
    readonly route: string,
    readonly field: string,
    problem: string,
  ) {
    super(`the answer of ${route} does not match its response schema: ${problem}`);
    this.name = 'ResponseMismatch';
  }
}

export class Api {
  constructor(
    readonly routes: readonly ApiRoute[],
    private readonly options: ApiOptions = {},
  ) {
    if (options.checkResponses) knowFormats();
  }

  /** Runs the matching handler; never throws. `onError` hears of our own (5xx) errors and of settings not made yet (to log as a warning). */
  async handle(request: ApiRequest, onError?: (err: unknown, status: number) => void, transport: Transport = 'http'): Promise<ApiResponse> {
    try {
      const { route, params } = this.match(request.method, request.path, transport);
      if (transport === 'local' && route.upload) throw new ApError('NEEDS_HTTP', `${request.method} ${request.path} takes an upload: use the Manager over HTTP (or a local file)`);
      const query = request.query ?? {};
      const input = request.body ?? {};
      if (route.query) check(route.query, query, 'query');
      if (route.body && !route.upload) check(route.body, input, 'body');
      const body = await route.handler({ params, query, body: input, caller: request.caller ?? '' });
      if (transport === 'local' && body instanceof StreamBody) {
        body.cancel?.();
        await (body.chunks as AsyncGenerator<Buffer>).return?.(undefined); // nothing was read: stop its producer
        throw new ApError('NEEDS_HTTP', `${request.method} ${request.path} is a download: use the Manager over HTTP (or --file)`);
      }
      if (route.method !== 'GET') this.options.onChanged?.(route.method, request.path, request.actor ?? 'an unnamed caller', route.changeNote?.(input));
      if (this.options.checkResponses && !(body instanceof StreamBody)) checkResponse(route, body ?? {});
      return { status: route.status ?? 200, body: body ?? {} };
    } catch (err) {
      const status = err instanceof ApError ? httpStatus(err.code) : 500;
      // Ours (5xx), or a setting the administrator has yet to make: worth a log line.
      if (status >= 500 || (err instanceof ApError && errorSpec(err.code).setting)) onError?.(err, status);
      return { status, body: errorBody(err) };
    }
  }

  /** The route `method path` goes to, or null (so a transport knows an upload before reading the body). */
  find(method: string, path: string, transport: Transport = 'http'): ApiRoute | null {
    try {
      return this.match(method, path, transport).route;
    } catch {
      return null;
    }
  }

  private match(method: string, path: string, transport: Transport): { route: ApiRoute; params: Record<string, string> } {
    const segments = path.split('/').filter((s) => s !== '');
    let pathMatched = false;
    for (const route of this.routes) {
      // Skipped, not refused: over HTTP the answer is the one the table gives without the route (404, or 405 beside another method).
      if (route.local && transport !== 'local') continue;
      const params = matchPattern(route.pattern, segments);
      if (!params) continue;
      pathMatched = true;
      if (route.method === method.toUpperCase()) return { route, params };
    }
    if (pathMatched) throw new ApError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`);
    throw new ApError('NOT_FOUND', `no API resource ${path}`);
  }
}

function checkResponse(route: ApiRoute, body: unknown): void {
  // A route without one is caught by test/api/routes.test.ts, which reads the whole table.
  if (!route.response) return;
  const name = `${route.method} ${route.pattern}`;
  // What the transports send is JSON: check the value as a client parses it (no undefined fields, dates as strings).
  const sent: unknown = JSON.parse(JSON.stringify(body));
  try {
    check(route.response, sent, 'response');
  } catch (err) {
    if (err instanceof InvalidField) throw new ResponseMismatch(name, err.field, err.message);
    throw err;
  }
}

function matchPattern(pattern: string, segments: readonly string[]): Record<string, string> | null {
  const parts = pattern.split('/').filter((s) => s !== '');
  if (parts.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.startsWith('{') && part.endsWith('}')) {
      try {
        params[part.slice(1, -1)] = decodeURIComponent(segments[i]!);
      } catch {
        return null;
      }
    } else if (part !== segments[i]) return null;
  }
  return params;
}

/** A boolean query flag: "true"/"1" or absent/"false"/"0"; anything else is a BAD_REQUEST. */
export function queryFlag(query: Readonly<Record<string, string>>, name: string): boolean {
  const value = query[name];
  if (value === undefined || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1' || value === '') return true;
  throw new ApError('BAD_REQUEST', `query parameter ${name} must be true or false`);
}

/** The body as an object, or BAD_REQUEST. */
export function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ApError('BAD_REQUEST', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}
