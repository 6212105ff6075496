// The access log (setting accessLog, off by default): one line per HTTP
// answer and per WebSocket upgrade, of every listener, Manager and apps:
//
//   2026-11-30T23:10:00.000Z 192.0.2.7 "GET /example.com/app1/hello?x=1" 200 42 3ms
//
// (time of the answer's end, client address, method and URL as sent, status,
// body bytes, time taken; "aborted" for a client that went away first.) When
// on, each response is seen through a proxy that notes its status and bytes;
// when off, nothing is wrapped and nothing costs. A size-capped file with one
// rotated copy, as every log on the box.
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { LOG_MAX_BYTES, openRotatingFile, type RotatingFile } from '../log';
import { bodySize, wrapResponse } from './wrap';

export class AccessLog {
  private file: RotatingFile | null = null;

  constructor(
    private readonly path: string,
    private readonly maxBytes = LOG_MAX_BYTES,
  ) {}

  get enabled(): boolean {
    return this.file !== null;
  }

  /** Starts or stops writing (the setting changed). */
  set(on: boolean): void {
    if (on && !this.file) this.file = openRotatingFile(this.path, this.maxBytes);
    else if (!on && this.file) {
      this.file.close();
      this.file = null;
    }
  }

  write(line: string): void {
    this.file?.write(line);
  }

  close(): void {
    this.set(false);
  }
}

/** `res` as the handler sees it, with its answer written to `log` when it ends; reads `req` now (uWS's request lives only during the handler). */
export function logged(res: HttpResponse, req: HttpRequest, log: AccessLog): HttpResponse {
  const start = performance.now();
  const query = req.getQuery();
  // As sent, but never a line of its own making: control characters as "?", quotes as %22, at most 400 characters.
  const asSent = `${req.getMethod().toUpperCase()} ${req.getUrl()}${query ? `?${query}` : ''}`;
  const request = (asSent.length > 400 ? `${asSent.slice(0, 400)}…` : asSent).replace(/[\u0000-\u001f\u007f]/g, '?').replace(/"/g, '%22');
  const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
  let status = '200';
  let bytes = 0;
  let done = false;
  const finish = (how?: string) => {
    if (done) return;
    done = true;
    log.write(`${new Date().toISOString()} ${remote} "${request}" ${how ?? status} ${bytes} ${Math.round(performance.now() - start)}ms\n`);
  };
  return wrapResponse(res, (prop, call) => {
    switch (prop) {
      case 'writeStatus':
        return (text: string) => {
          status = String(text).split(' ', 1)[0]!;
          return call([text]);
        };
      case 'write':
        return (chunk: unknown) => {
          bytes += bodySize(chunk);
          return call([chunk]);
        };
      case 'end':
        return (...args: unknown[]) => {
          bytes += bodySize(args[0]);
          const result = call(args);
          finish();
          return result;
        };
      case 'endWithoutBody':
        return (...args: unknown[]) => {
          const result = call(args);
          finish();
          return result;
        };
      case 'tryEnd':
        return (chunk: unknown, total: number) => {
          const result = call([chunk, total]) as [boolean, boolean];
          if (result[1]) {
            bytes = total;
            finish();
          }
          return result;
        };
      case 'upgrade':
        return (...args: unknown[]) => {
          status = '101';
          const result = call(args);
          finish();
          return result;
        };
      case 'onAborted':
        return (handler: () => void) =>
          call([
            () => {
              finish('aborted');
              handler();
            },
          ]);
      default:
        return undefined;
    }
  });
}
