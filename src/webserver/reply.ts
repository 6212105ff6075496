// Answers the webserver gives itself (not a service): a status line and a
// short plain-text body. A leaf inside the webserver, so the static files,
// the framing checks, the proxy and the WebSockets share it without importing
// one another.
import type { HttpResponse } from 'uWebSockets.js';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 206: 'Partial Content', 207: 'Multi-Status', 301: 'Moved Permanently', 302: 'Found',
  304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  409: 'Conflict', 413: 'Payload Too Large', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}

/**
 * Answers a request ourselves (not from a service). Call corked, or
 * synchronously in the handler. `close` ends the connection after the
 * answer: what the client sent after this request is not read.
 */
export function reply(res: HttpResponse, status: number, text: string, headers: Record<string, string> = {}, close = false): void {
  res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'text/plain; charset=utf-8');
  if (close) res.writeHeader('Connection', 'close');
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
  res.end(text, close);
}
