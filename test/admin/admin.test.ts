import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminRequest, startAdminServer, type AdminServer } from '../../src/admin';
import { ApError } from '../../src/errors';
import { createLogger } from '../../src/log';

let dir: string;
let server: AdminServer;
let path: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-admin-'));
  path = join(dir, 'ap.sock');
  server = await startAdminServer(
    path,
    {
      status: () => ({ state: 'running' }),
      echo: (args) => args,
      fail: () => {
        throw ApError.reported('NOPE', 'cannot do that');
      },
    },
    createLogger({ level: 'error', file: null }),
    { 'old.verb': 'send {"cmd":"api"} instead' },
  );
});
after(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

function raw(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (answer.includes('\n')) {
        socket.end();
        resolve(answer.trim());
      }
    });
    socket.on('error', reject);
    socket.write(text);
  });
}

describe('admin socket', () => {
  it('is private to its owner', async () => {
    assert.equal((await stat(path)).mode & 0o777, 0o600);
  });

  it('answers commands with their result', async () => {
    assert.deepEqual(await adminRequest(path, 'status'), { state: 'running' });
    assert.deepEqual(await adminRequest(path, 'echo', { a: 1 }), { a: 1 });
  });

  it('passes on errors with their code', async () => {
    await assert.rejects(adminRequest(path, 'fail'), (err: unknown) => err instanceof ApError && err.code === 'NOPE');
    await assert.rejects(adminRequest(path, 'reboot'), (err: unknown) => err instanceof ApError && err.code === 'UNKNOWN_COMMAND');
    await assert.rejects(adminRequest(path, 'toString'), (err: unknown) => err instanceof ApError && err.code === 'UNKNOWN_COMMAND');
  });

  it('refuses a retired command with what to send instead', async () => {
    await assert.rejects(adminRequest(path, 'old.verb'), (err: unknown) => err instanceof ApError && err.code === 'UNKNOWN_COMMAND' && err.message === 'send {"cmd":"api"} instead');
    await assert.rejects(adminRequest(path, 'reboot'), /unknown command "reboot" \(known: status, echo, fail\)/);
  });

  it('rejects malformed requests without closing the door', async () => {
    assert.match(await raw('not json\n'), /"code":"BAD_REQUEST"/);
    assert.match(await raw('{"cmd": 5}\n'), /"code":"BAD_REQUEST"/);
    assert.match(await raw('{"cmd": "echo", "args": [1]}\n'), /"code":"BAD_REQUEST"/);
    assert.match(await raw(`${'x'.repeat(600 * 1024)}`), /longer than/);
    assert.deepEqual(await adminRequest(path, 'status'), { state: 'running' });
  });

  it('says plainly when no supervisor runs', async () => {
    await assert.rejects(adminRequest(join(dir, 'none.sock'), 'status'), (err: unknown) => err instanceof ApError && err.code === 'NOT_RUNNING');
  });
});
