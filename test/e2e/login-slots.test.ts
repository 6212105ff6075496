// Connections still logging in are capped (--ws-login-max overall, an eighth of
// it per client address), because until its login a WebSocket is anybody's and
// uWS holds its frame in flight up to --ws-max-payload before we see it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { connect, type Client } from '../harness/ws';

const PASSWORD = 'pw';
let dir: string;
let root: string;
let run: Run;
let port: number;
const open: Socket[] = [];

before(async () => {
  dir = await workspace('ap-login-slots-');
  root = await rootWithConfig(dir, {
    ws: { loginMax: 8 },
    instances: [{ service: 'pbxecho', name: 'pbx1', domain: 'example.com', password: PASSWORD }],
  });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  port = (await readyPorts(run)).app;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('pbxecho', join(dir, 'packages')), '--root', root]).status, 0);
  const state = () => JSON.parse(runApSync(['ctl', 'service', 'list', '--json', '--root', root]).stdout).find((s: { name: string }) => s.name === 'pbxecho')?.state;
  await until('pbxecho running', async () => (state() === 'running' ? true : undefined));
});

after(async () => {
  for (const socket of open) socket.destroy();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

type Handshake = { status: 101; socket: Socket } | { status: number; retryAfter: string | undefined; body: string };

/** A WebSocket handshake from `localAddress` (any of 127/8 reaches the loopback listener). */
function handshake(localAddress: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      localAddress,
      path: '/example.com/pbx1/websocket',
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
    });
    req.on('upgrade', (_res, socket) => {
      open.push(socket);
      resolve({ status: 101, socket });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk)).on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'], body }));
    });
    req.on('error', reject).end();
  });
}

const upgraded = async (from: string) => {
  const answer = await handshake(from);
  assert.equal(answer.status, 101, `from ${from}: ${JSON.stringify(answer.status === 101 ? '' : answer)}`);
  return (answer as { socket: Socket }).socket;
};

const refused = async (from: string) => {
  const answer = await handshake(from);
  assert.equal(answer.status, 503, `from ${from}`);
  assert.equal((answer as { retryAfter: string }).retryAfter, '1');
  assert.match((answer as { body: string }).body, /too many connections logging in/);
};

/** Resolves when the server has closed `socket`. */
const gone = (socket: Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
async function logIn(client: Client): Promise<void> {
  client.sendJson({ mt: 'AppChallenge' });
  const { challenge } = (await client.nextJson()) as { challenge: string };
  client.sendJson({ mt: 'AppLogin', app: '', domain: '', sip: 'a', guid: '', dn: '', digest: sha(['', '', 'a', '', '', challenge, PASSWORD].join(':')) });
  assert.equal((await client.nextJson()).ok, true);
}

describe('WebSockets logging in', () => {
  it('take one slot per address: a second from the same address gets 503 and Retry-After, another address gets in', async () => {
    const first = await upgraded('127.0.0.2');
    await refused('127.0.0.2');
    const other = await upgraded('127.0.0.3');
    // The slot comes back when the connection goes.
    first.destroy();
    other.destroy();
    await until('slot of 127.0.0.2 back', async () => ((await handshake('127.0.0.2')).status === 101 ? true : undefined));
    for (const socket of open.splice(0)) socket.destroy();
  });

  it('give their slot back once logged in', async () => {
    const client = await connect(`ws://127.0.0.1:${port}/example.com/pbx1/websocket`, { localAddress: '127.0.0.4' });
    await refused('127.0.0.4');
    await logIn(client);
    const second = await connect(`ws://127.0.0.1:${port}/example.com/pbx1/websocket`, { localAddress: '127.0.0.4' });
    await logIn(second);
    client.ws.close();
    second.ws.close();
  });

  it('are capped overall at --ws-login-max', async () => {
    const sockets: Socket[] = [];
    for (let i = 10; i < 18; i++) sockets.push(await upgraded(`127.0.0.${i}`));
    await refused('127.0.0.18');
    sockets[0]!.destroy();
    await until('a slot free again', async () => ((await handshake('127.0.0.18')).status === 101 ? true : undefined));
    for (const socket of open.splice(0)) socket.destroy();
  });

  it('cannot announce a frame larger than the default --ws-max-payload (1M)', async () => {
    const socket = await upgraded('127.0.0.20');
    // A masked text frame announcing 1 MiB + 1 bytes (64-bit length): uWS drops it at its head,
    // long before the login deadline (15 s) would.
    socket.write(Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 1, 0, 0, 0, 0]));
    const dropped = await Promise.race([gone(socket).then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
    assert.equal(dropped, true, 'a frame over 1 MiB was not refused at its head');
    // 1 MiB exactly gets through uWS and reaches the login, which refuses it.
    const fits = await upgraded('127.0.0.21');
    let received = Buffer.alloc(0);
    fits.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    fits.write(Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0]));
    fits.write(Buffer.alloc(1 << 20, 0x61)); // the mask is zero: the payload is as written
    await gone(fits);
    assert.equal(received[0], 0x88, 'a close frame');
    assert.equal(received.readUInt16BE(2), 1009);
    assert.equal(received.subarray(4, 2 + received[1]!).toString(), 'message too large before login');
  });
});
