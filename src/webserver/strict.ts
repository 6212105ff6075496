// Strict HTTP: every route of the webserver (the Manager's, the apps' and the
// proxy) sees only requests whose framing is unambiguous and whose head is
// within the limit, and HTTPS answers carry HSTS. uWS 20.30 takes the first of
// two Content-Length values and any Transfer-Encoding containing "chunked";
// a proxy behind us could read the same bytes differently (request
// smuggling), so such requests are refused with 400 and the connection is
// closed (whatever follows on it cannot be trusted).
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { logged, type AccessLog } from './access';
import { reply } from './reply';
import { bodySize, wrapResponse } from './wrap';

/** How much of a client's URL or value an error body shows. */
export const SHOWN_MAX = 200;

/** `text` for an error body: at most SHOWN_MAX characters, control characters as "?". */
export function shown(text: string, max = SHOWN_MAX): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(/[\u0000-\u001f\u007f]/g, '?');
}

/** Why `req` must be refused (status and text), or null. Reads `req` synchronously. */
export function refusal(req: HttpRequest, maxHeaderBytes: number): { status: number; text: string } | null {
  let size = 0;
  let length: string | null = null;
  let lengths = 0;
  let encoding: string | null = null;
  let conflicting = false;
  req.forEach((name, value) => {
    size += name.length + value.length + 4;
    if (name === 'content-length') {
      // "5, 5" is one value repeated (RFC 9110 allows a recipient to accept it); anything else conflicts.
      for (const part of value.split(',')) {
        const v = part.trim();
        lengths++;
        if (length === null) length = v;
        else if (v !== length) conflicting = true;
      }
    } else if (name === 'transfer-encoding') {
      encoding = encoding === null ? value : `${encoding}, ${value}`;
    }
  });
  if (size > maxHeaderBytes) return { status: 431, text: `request headers larger than ${maxHeaderBytes} bytes\n` };
  if (conflicting) return { status: 400, text: 'conflicting Content-Length values\n' };
  if (lengths > 0 && !/^\d{1,15}$/.test(length!)) return { status: 400, text: 'Content-Length is not a number\n' };
  if (encoding !== null) {
    if ((encoding as string).trim().toLowerCase() !== 'chunked') return { status: 400, text: 'Transfer-Encoding other than "chunked" is not supported\n' };
    if (lengths > 0) return { status: 400, text: 'both Transfer-Encoding and Content-Length\n' };
  }
  return null;
}

const ROUTE_METHODS = new Set(['get', 'post', 'put', 'del', 'patch', 'options', 'head', 'any', 'connect', 'trace']);

const HSTS = 'max-age=31536000';

/**
 * `app` whose HTTP routes refuse what `refusal` refuses before their handler
 * runs, and (on HTTPS) add Strict-Transport-Security to every answer that does
 * not set its own; with the access log on, every answer is written to it.
 * WebSocket routes (app.ws) keep their own upgrade checks.
 */
export function strictApp(app: TemplatedApp, maxHeaderBytes: number, secure: boolean, access?: AccessLog): TemplatedApp {
  const wrapped: TemplatedApp = new Proxy(app, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (typeof prop !== 'string' || !ROUTE_METHODS.has(prop)) {
        // Native methods need the real app as `this`; chained calls come back to the wrapper.
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          return result === target ? wrapped : result;
        };
      }
      return (pattern: string, handler: (res: HttpResponse, req: HttpRequest) => void | Promise<void>) => {
        const guarded = (res: HttpResponse, req: HttpRequest) => {
          const seen = access?.enabled ? logged(res, req, access) : res;
          const secured = secure ? withHsts(seen) : seen;
          const answer = req.getMethod() === 'head' ? headResponse(secured) : secured;
          const refused = refusal(req, maxHeaderBytes);
          if (refused) return reply(answer, refused.status, refused.text, {}, true);
          return handler(answer, req);
        };
        (value as (p: string, h: typeof handler) => unknown).call(target, pattern, guarded);
        // HEAD is GET without the body (RFC 9110 9.3.2): uWS routes it to neither on its own.
        if (prop === 'get') target.head(pattern, guarded);
        return wrapped;
      };
    },
  });
  return wrapped;
}

/** Calls on a response that send its head: HSTS goes in just before, unless the handler set its own. */
const SENDS_HEAD = new Set(['write', 'end', 'tryEnd', 'endWithoutBody']);

function withHsts(res: HttpResponse): HttpResponse {
  let done = false;
  return wrapResponse(res, (prop, call) => {
    if (prop === 'writeHeader') {
      return (...args: unknown[]) => {
        if (typeof args[0] === 'string' && args[0].toLowerCase() === 'strict-transport-security') done = true;
        return call(args);
      };
    }
    if (typeof prop === 'string' && SENDS_HEAD.has(prop)) {
      return (...args: unknown[]) => {
        if (!done) {
          done = true;
          res.writeHeader('Strict-Transport-Security', HSTS);
        }
        return call(args);
      };
    }
    return undefined;
  });
}

/**
 * The answer to a HEAD request: what the handler writes as for GET, with the
 * same status and headers, and a Content-Length of the body it would have
 * sent; the body itself is not sent. Handlers that know HEAD themselves
 * (static files, the proxy) call endWithoutBody, which passes through.
 */
export function headResponse(res: HttpResponse): HttpResponse {
  let length = 0;
  const wrapped: HttpResponse = wrapResponse(res, (prop) => {
    switch (prop) {
      case 'write':
        return (chunk: unknown) => {
          length += bodySize(chunk);
          return true;
        };
      case 'end':
        return (body?: unknown, closeConnection?: boolean) => endHead(res, length + bodySize(body), closeConnection);
      case 'tryEnd':
        return (_chunk: unknown, total: number) => {
          endHead(res, total);
          return [true, true];
        };
      case 'endWithoutBody':
        return (reported?: number, closeConnection?: boolean) => endHead(res, reported, closeConnection);
      default:
        return undefined;
    }
  });
  const endHead = (res: HttpResponse, reported: number | undefined, closeConnection?: boolean) => {
    // uWS 20.30's endWithoutBody(length > 0) never completes the response (the process aborts: a HEAD of a static file did),
    // so the length goes in as a header. Closing needs the two-argument form, whose length 0 it reports: that
    // happens only for requests refused before any handler ran.
    if (closeConnection) res.endWithoutBody(0, true);
    else {
      if (reported !== undefined) res.writeHeader('Content-Length', String(reported));
      res.endWithoutBody();
    }
    return wrapped;
  };
  return wrapped;
}
