// The web part's stop ends the connections it serves, not only its listeners:
// a supervisor that composes itself again (a replication switch) must not
// leave a browser's kept-alive connection answered by the stopped part (its
// sessions, its closed database pool) while the new one listens on the port.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { startWebserver, type Webserver } from '../../src/webserver';
import { silentLogger } from '../harness/log';

function start(): Promise<Webserver> {
  return startWebserver({
    host: '127.0.0.1',
    httpPort: 0,
    managerHttpPort: 0,
    https: null,
    maxHeaderBytes: 16 * 1024,
    http: { maxHeaderBytes: 16 * 1024, maxBodyBytes: 1024 * 1024, requestTimeoutMs: 10_000 },
    ws: { maxHeaderBytes: 16 * 1024, maxPayloadBytes: 64 * 1024, idleTimeoutS: 60, clientBudgetBytes: 64 * 1024, holdBytes: 64 * 1024, loginTimeoutS: 10, loginMax: 16 },
    routes: () => [],
    upstreams: { get: () => undefined, onState: () => {} },
    log: silentLogger(),
    health: async () => ({ ok: true, body: { status: 'ok' } }),
    metricsAllowed: async () => false,
  });
}

/** One keep-alive request on a raw socket; resolves once the whole answer is in. */
async function askHealth(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8');
  const answered = new Promise<void>((resolve) => {
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (/\r\n\r\n[\s\S]*\}$/.test(text)) resolve();
    });
  });
  socket.write('GET /manager/health HTTP/1.1\r\nHost: box\r\nConnection: keep-alive\r\n\r\n');
  await answered;
  return text;
}

describe('the webserver stopping', () => {
  let server: Webserver | null = null;
  after(async () => {
    await server?.stop();
  });

  it('ends a kept-alive connection on both sites, not only the listeners', async () => {
    server = await start();
    const sockets = await Promise.all(
      [server.managerHttpPort, server.httpPort].map(async (port) => {
        const socket = connect(port, '127.0.0.1');
        await once(socket, 'connect');
        return socket;
      }),
    );
    for (const socket of sockets) assert.match(await askHealth(socket), /^HTTP\/1\.1 200/);
    const closed = sockets.map((socket) => once(socket, 'close'));
    assert.ok(sockets.every((s) => !s.destroyed && s.readyState === 'open'), 'kept alive after the answer');

    await server.stop();
    server = null;
    // Bounded: without the fix the connections stay open for good.
    const within = new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 5000).unref());
    for (const wait of closed) assert.notEqual(await Promise.race([wait.then(() => 'closed' as const), within]), 'open', 'the stopped webserver still holds the connection');
  });
});
