// The local admin socket (var/run/ap.sock under the root, root-only): how
// `ap ctl` and technicians' scripts talk to a running supervisor. One JSON
// request per line, one JSON response per line; the supervisor serves one
// command, `api` (src/supervisor/admin.ts), any route of the admin API:
//   → {"cmd":"api","args":{"method":"GET","path":"/status"}}
//   ← {"ok":true,"result":{"status":200,"body":{…}}} | {"ok":false,"error":{"code":"…","message":"…"}}
// (an API error is a result with its status and {error}; `ok:false` is for
// the socket's own: a bad line, an unknown command).
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, rm } from 'node:fs/promises';
import { ApError, describe } from '../errors';
import type { Logger } from '../log';

export type Handler = (args: Record<string, unknown>) => Promise<unknown> | unknown;

export interface AdminServer {
  /** Stops listening, ends open connections and removes the socket file. */
  stop(): Promise<void>;
}

const MAX_LINE = 512 * 1024;

/**
 * Listens on `path` (replacing a stale socket file) and serves `handlers`;
 * a command in `retired` is refused with its message (what to send instead).
 */
export async function startAdminServer(path: string, handlers: Readonly<Record<string, Handler>>, log: Logger, retired: Readonly<Record<string, string>> = {}): Promise<AdminServer> {
  await rm(path, { force: true }); // we hold the root's lock, so any socket here is stale
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    serveConnection(socket, handlers, log, retired);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return {
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(path, { force: true });
    },
  };
}

function serveConnection(socket: Socket, handlers: Readonly<Record<string, Handler>>, log: Logger, retired: Readonly<Record<string, string>>): void {
  let buffer = '';
  let queue = Promise.resolve();
  socket.setEncoding('utf8');
  socket.on('error', () => {});
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    if (buffer.length > MAX_LINE && !buffer.includes('\n')) {
      reply(socket, { ok: false, error: { code: 'BAD_REQUEST', message: `request longer than ${MAX_LINE} bytes` } });
      socket.end();
      return;
    }
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      // Answer in order, one request at a time per connection.
      queue = queue.then(() => handle(line, handlers, log, retired)).then((response) => reply(socket, response));
    }
  });
}

async function handle(line: string, handlers: Readonly<Record<string, Handler>>, log: Logger, retired: Readonly<Record<string, string>>): Promise<unknown> {
  let request: { cmd?: unknown; args?: unknown };
  try {
    request = JSON.parse(line);
  } catch {
    return { ok: false, error: { code: 'BAD_REQUEST', message: 'request is not valid JSON' } };
  }
  const args = request?.args ?? {};
  if (typeof request?.cmd !== 'string' || typeof args !== 'object' || args === null || Array.isArray(args)) {
    return { ok: false, error: { code: 'BAD_REQUEST', message: 'request must be {"cmd": string, "args"?: object}' } };
  }
  const handler = Object.hasOwn(handlers, request.cmd) ? handlers[request.cmd] : undefined;
  if (!handler && Object.hasOwn(retired, request.cmd)) return { ok: false, error: { code: 'UNKNOWN_COMMAND', message: retired[request.cmd] } };
  if (!handler) {
    return { ok: false, error: { code: 'UNKNOWN_COMMAND', message: `unknown command "${request.cmd}" (known: ${Object.keys(handlers).join(', ')})` } };
  }
  try {
    return { ok: true, result: await handler(args as Record<string, unknown>) };
  } catch (err) {
    if (!(err instanceof ApError)) log.error(`admin command ${request.cmd} failed: ${describe(err)}`);
    return { ok: false, error: { code: err instanceof ApError ? err.code : 'INTERNAL', message: describe(err) } };
  }
}

function reply(socket: Socket, response: unknown): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
}

/** Sends one request to the supervisor at `path` and returns its result; throws ApError on its error. */
export function adminRequest(path: string, cmd: string, args: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ApError('ADMIN_TIMEOUT', `the supervisor did not answer "${cmd}" within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ cmd, args })}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      socket.end();
      try {
        const response = JSON.parse(buffer.slice(0, newline));
        if (response.ok) resolve(response.result);
        else reject(ApError.reported(String(response.error?.code ?? 'ERROR'), String(response.error?.message ?? 'failed')));
      } catch {
        reject(new ApError('ADMIN_PROTOCOL', 'the supervisor sent an answer that is not JSON'));
      }
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const missing = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
      reject(
        missing
          ? new ApError('NOT_RUNNING', `no supervisor is running (nothing answers on ${path})`)
          : new ApError('ADMIN_UNREACHABLE', `cannot reach the supervisor at ${path}: ${err.message}`),
      );
    });
  });
}
