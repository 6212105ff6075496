// A response seen through a proxy: what the strict app (HSTS, HEAD) and the
// access log put between a handler and uWS.
import type { HttpResponse } from 'uWebSockets.js';

/** Calls the response's own method with `args` (uWS needs the real response as `this`). */
export type Call = (args: unknown[]) => unknown;

/**
 * `res` whose methods `override` replaces (given a call of the original, and
 * the wrapper itself), the others passing through; a method that returns the
 * response returns the wrapper, so chained calls stay inside.
 */
export function wrapResponse(res: HttpResponse, override: (prop: string | symbol, call: Call) => ((...args: never[]) => unknown) | undefined): HttpResponse {
  const wrapped: HttpResponse = new Proxy(res, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function') return value;
      const call: Call = (args) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result === target ? wrapped : result;
      };
      return override(prop, call) ?? ((...args: unknown[]) => call(args));
    },
  });
  return wrapped;
}

/** The bytes of a body chunk as uWS takes it (a string, an ArrayBuffer or a view). */
export function bodySize(chunk: unknown): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk) ? chunk.byteLength : 0;
}
