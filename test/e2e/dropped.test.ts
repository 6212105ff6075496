// Clients that vanish mid-request must leave nothing behind: neither in the
// supervisor (its streams to the service) nor in the service (the SDK's open
// requests and WebSockets). Counted structurally; RSS is printed, not asserted.
import assert from 'node:assert/strict';
import { connect as tcp, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fetchRaw, rssKb, until } from '../harness/http';
import { connect as wsConnect } from '../harness/ws';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let app: number;

const ctl = (...args: string[]) => JSON.parse(runApSync(['ctl', ...args, '--json', '--root', root]).stdout);
const service = () => ctl('service', 'list').find((s: { name: string }) => s.name === 'pbxecho') as { state: string; pid: number; streams: number };
/** What the service's SDK holds open, minus the request asking. */
const sdkOpen = async () => {
  const open = JSON.parse((await fetchRaw(`http://127.0.0.1:${app}/example.com/pbx1/streams`)).body.toString()) as { http: number; websockets: number };
  return { http: open.http - 1, websockets: open.websockets };
};

before(async () => {
  dir = await workspace('ap-dropped-');
  root = await rootWithConfig(dir, {
    ws: { loginTimeout: 2, loginMax: 400 }, // 50 logins at once from this one address
    instances: [{ service: 'pbxecho', name: 'pbx1', domain: 'example.com', password: 'pw' }],
  });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  app = (await readyPorts(run)).app;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('pbxecho', join(dir, 'packages')), '--root', root]).status, 0);
  await until('pbxecho running', async () => (service()?.state === 'running' ? true : undefined));
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

/** Opens `count` sockets (at most `parallel` at a time); `script` writes to each and says when to drop it. */
async function drop(count: number, parallel: number, script: (socket: Socket) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const socket = tcp(app, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      await script(socket);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

/** A client's (masked) text frame. */
function maskedText(text: string): Buffer {
  const data = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const head = data.length < 126 ? Buffer.from([0x81, 0x80 | data.length]) : Buffer.from([0x81, 0x80 | 126, data.length >> 8, data.length & 0xff]);
  return Buffer.concat([head, mask, Buffer.from(data.map((b, i) => b ^ mask[i % 4]!))]);
}

/** Resolves once `socket` has received `text` (or closed). */
const received = (socket: Socket, text: string) =>
  new Promise<void>((resolve) => {
    let got = '';
    const check = (chunk?: Buffer) => {
      if (chunk) got += chunk.toString('latin1');
      if (got.includes(text)) resolve();
    };
    socket.on('data', check).once('close', () => resolve());
    // A request the loaded machine has not answered yet is dropped all the same.
    setTimeout(resolve, 5000).unref();
  });

describe('clients dropped mid-request', () => {
  it('leave no open stream in the supervisor or the service', { timeout: 240_000 }, async () => {
    const supervisorPid = run.child.pid!;
    const servicePid = service().pid;
    const rss = async () => `supervisor ${Math.round((await rssKb(supervisorPid)) / 1024)} MB, service ${Math.round((await rssKb(servicePid)) / 1024)} MB`;
    const before = await rss();
    const body = Buffer.alloc(64 * 1024, 0x61);
    const count = Number(process.env.AP_DROPPED_COUNT ?? 400);
    // HTTP: half the body of a 1 MB upload, then the client is gone (FIN, or RST).
    await drop(count, 50, async (socket) => {
      const echoed = received(socket, '\r\n\r\n');
      socket.write(`POST /example.com/pbx1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * 1024}\r\n\r\n`);
      for (let i = 0; i < 8; i++) socket.write(body);
      await echoed;
      if (Math.random() < 0.5) socket.end();
      else socket.resetAndDestroy();
    });
    // WebSockets closed mid-login: after the challenge, before AppLogin.
    await drop(Math.ceil(count / 2), 50, async (socket) => {
      const upgraded = received(socket, '\r\n\r\n');
      socket.write('GET /example.com/pbx1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
      await upgraded;
      const challenged = received(socket, 'AppChallengeResult');
      socket.write(maskedText('{"mt":"AppChallenge"}'));
      await challenged;
      if (Math.random() < 0.5) socket.end();
      else socket.resetAndDestroy();
    });
    const settled = await until(
      'no open streams',
      async () => {
        const streams = service().streams;
        const sdk = await sdkOpen();
        return streams === 0 && sdk.http === 0 && sdk.websockets === 0 ? { streams, sdk } : undefined;
      },
      60_000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: supervisor streams ${service().streams}, SDK ${JSON.stringify(await sdkOpen())}`);
    });
    console.log(`# ${count} uploads and ${Math.ceil(count / 2)} logins dropped: RSS before ${before}; after ${await rss()}; ${JSON.stringify(settled)}`);
  });
});

describe('WebSockets before login', () => {
  it('are closed with 1008 when they do not log in within --ws-login-timeout', async () => {
    const client = await wsConnect(`ws://127.0.0.1:${app}/example.com/pbx1/ws`);
    const opened = Date.now();
    client.sendJson({ mt: 'AppChallenge' });
    assert.equal((await client.nextJson()).mt, 'AppChallengeResult');
    const [code, reason] = await client.closed;
    const waited = Date.now() - opened;
    assert.equal(code, 1008);
    assert.equal(reason, 'no login in time');
    assert.ok(waited >= 1900 && waited < 10_000, `closed after ${waited} ms`);
  });

  it('are closed with 1009 for a message larger than a login can be', async () => {
    const client = await wsConnect(`ws://127.0.0.1:${app}/example.com/pbx1/ws`);
    client.ws.send(JSON.stringify({ mt: 'AppChallenge', pad: 'x'.repeat(5000) }));
    assert.deepEqual(await client.closed, [1009, 'message too large before login']);
  });
});

