// The SDK in a real child process, spoken to over its channel as the supervisor
// does: one service serving same-named instances of two domains.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJson, Kind, type Frame } from '../../src/channel';
import { sdkChild } from '../harness/sdk';

// Answers every request with what service.instances holds for the request's instance.
const SERVICE = `
import { createService } from './src/sdk/index.ts';
const service = createService({
  http(req, res) {
    const mine = service.instances.get(req.instance ?? '');
    res.writeHead(mine ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ instance: req.instance, known: [...service.instances.keys()].sort(), password: mine?.password ?? null, path: mine?.path ?? null }));
  },
});
`;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** Starts the service above on a channel; `request` sends one GET for an instance and resolves with the answer. */
async function startService() {
  const pending = new Map<number, { status: number; chunks: Buffer[]; done: (a: Answer) => void }>();
  const { child, channel } = await sdkChild(SERVICE, (frame: Frame) => {
    const entry = pending.get(frame.stream);
    if (frame.kind === Kind.CONTROL || !entry) return;
    if (frame.kind === Kind.HTTP_RESPONSE) entry.status = Number(decodeJson(frame).status);
    else if (frame.kind === Kind.HTTP_RESPONSE_BODY) entry.chunks.push(Buffer.from(frame.payload));
    else if (frame.kind === Kind.HTTP_RESPONSE_END) {
      pending.delete(frame.stream);
      entry.done({ status: entry.status, body: JSON.parse(Buffer.concat(entry.chunks).toString()) });
    }
  });
  let next = 1;
  return {
    control: (message: Record<string, unknown>) => channel.sendControl(message),
    request(instance: string, url: string): Promise<Answer> {
      const stream = next++;
      const answer = new Promise<Answer>((done) => pending.set(stream, { status: 0, chunks: [], done }));
      channel.send(Kind.HTTP_HEAD, stream, Buffer.from(JSON.stringify({ method: 'GET', url, query: '', headers: {}, instance, remote: '127.0.0.1' })));
      channel.send(Kind.HTTP_END, stream);
      return answer;
    },
    async stop() {
      const gone = new Promise((resolve) => child.once('close', resolve));
      channel.close();
      await gone; // the SDK exits when its channel closes
    },
  };
}

const start = (name: string, domain: string, password: string) => ({
  type: 'instance.start',
  name,
  domain,
  path: `/${domain}/${name}`,
  password,
  traceFlags: 1,
  database: { host: '/tmp', port: 5432, name: `${domain}_${name}`, user: `${domain}_${name}`, password: 'db', sslmode: 'disable' },
});

describe('the SDK with same-named instances in two domains', () => {
  it('keeps notes@a.example and notes@b.example apart: each its own config and its own traffic', async () => {
    const service = await startService();
    try {
      service.control(start('notes', 'a.example', 'pw-a'));
      service.control(start('notes', 'b.example', 'pw-b'));
      const a = await service.request('notes@a.example', '/a.example/notes/x');
      const b = await service.request('notes@b.example', '/b.example/notes/x');
      assert.deepEqual(a, { status: 200, body: { instance: 'notes@a.example', known: ['notes@a.example', 'notes@b.example'], password: 'pw-a', path: '/a.example/notes' } });
      assert.deepEqual(b, { status: 200, body: { instance: 'notes@b.example', known: ['notes@a.example', 'notes@b.example'], password: 'pw-b', path: '/b.example/notes' } });

      // A new password for one reaches that one only; stopping the other leaves this one served.
      service.control({ ...start('notes', 'a.example', 'pw-a2'), type: 'instance.config' });
      service.control({ type: 'instance.stop', name: 'notes', domain: 'b.example' });
      assert.equal((await service.request('notes@a.example', '/a.example/notes/x')).body.password, 'pw-a2');
      const gone = await service.request('notes@b.example', '/b.example/notes/x');
      assert.deepEqual(gone, { status: 404, body: { instance: 'notes@b.example', known: ['notes@a.example'], password: null, path: null } });
    } finally {
      await service.stop();
    }
  });
});

// Logs what its instanceStop handler was given.
const STOPPER = `
import { createService } from './src/sdk/index.ts';
const service = createService({
  instanceStop(instance) {
    service.log('info', JSON.stringify({ path: instance.path, database: instance.database?.name ?? null }));
  },
});
`;

describe('instanceStop', () => {
  it('gets the instance as it was started (its database: the pool to close), not only the name and domain instance.stop carries', async () => {
    const logged: string[] = [];
    let ponged!: () => void;
    const pong = new Promise<void>((resolve) => (ponged = resolve));
    const { child, channel } = await sdkChild(STOPPER, (frame: Frame) => {
      if (frame.kind !== Kind.CONTROL) return;
      const message = decodeJson(frame);
      if (message.type === 'log') logged.push(String(message.message));
      if (message.type === 'pong') ponged();
    });
    try {
      channel.sendControl(start('notes', 'a.example', 'pw-a'));
      channel.sendControl({ type: 'instance.stop', name: 'notes', domain: 'a.example' });
      // Never started: nothing to stop, the handler is not called.
      channel.sendControl({ type: 'instance.stop', name: 'other', domain: 'a.example' });
      // Answered after the stops, in order.
      channel.sendControl({ type: 'ping' });
      await pong;
      assert.deepEqual(logged.map((m) => JSON.parse(m)), [{ path: '/a.example/notes', database: 'a.example_notes' }]);
    } finally {
      child.kill('SIGKILL');
      channel.close();
    }
  });
});
