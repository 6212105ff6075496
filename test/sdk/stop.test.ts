// The SDK's answer to the control `stop`, in a real child process spoken to
// as the supervisor does: every frame sent before `stop` is handled, the
// handlers' promises and the service's own stop handler are waited for, the
// last answers leave, and the process exits by itself with 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { it } from 'node:test';
import { Channel, decodeJson, Kind, type Frame } from '../../src/channel';
import { REPO } from '../harness/supervisor';

// Answers a request after 300 ms (a database round trip, say); its stop handler takes 200 ms more.
const SERVICE = `
import { createService } from './src/sdk/index.ts';
const service = createService({
  async http(req, res) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('answered ' + req.url);
  },
  websocket: {
    message(conn, data) { conn.send('echo ' + data); },
  },
  async stop() {
    await new Promise((resolve) => setTimeout(resolve, 200));
    service.log('info', 'stop handler done');
  },
});
`;

it('answers `stop` by handling what came before it, waiting for the work in flight and its stop handler, then exiting with 0', async () => {
  const child = spawn(process.execPath, ['--import', join(REPO, 'test/register.mjs'), '--input-type=module', '-e', SERVICE], {
    cwd: REPO,
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
  });
  const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  const seen: string[] = [];
  const control: Record<string, unknown>[] = [];
  let wakeReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (wakeReady = resolve));
  const channel = new Channel(child.stdio[3] as Socket, {
    frame: (frame: Frame) => {
      if (frame.kind === Kind.CONTROL) {
        const message = decodeJson(frame);
        control.push(message);
        if (message.type === 'ready') wakeReady();
        if (message.type === 'log') seen.push(`log ${String(message.message)}`);
        return;
      }
      if (frame.kind === Kind.HTTP_RESPONSE_BODY) seen.push(`body ${Buffer.from(frame.payload).toString()}`);
      else if (frame.kind === Kind.HTTP_RESPONSE_END) seen.push(`end ${frame.stream}`);
      else if (frame.kind === Kind.WS_TEXT) seen.push(`ws ${Buffer.from(frame.payload).toString()}`);
    },
    drain: () => {},
    close: () => seen.push('channel closed'),
  });
  try {
    await ready;
    assert.deepEqual((control.find((m) => m.type === 'hello') as { features?: unknown }).features, ['stop'], 'the hello says it answers stop');
    // In one write, as the supervisor's corked channel sends them: a request, a WebSocket message, then stop.
    channel.send(Kind.HTTP_HEAD, 1, Buffer.from(JSON.stringify({ method: 'GET', url: '/slow', query: '', headers: {}, instance: null, remote: '127.0.0.1' })));
    channel.send(Kind.HTTP_END, 1);
    channel.send(Kind.WS_OPEN, 2, Buffer.from(JSON.stringify({ url: '/ws', query: '', headers: {}, instance: null, remote: '127.0.0.1' })));
    channel.send(Kind.WS_TEXT, 2, Buffer.from('last words'));
    channel.sendControl({ type: 'stop' });
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null], 'it exits by itself, cleanly');
    await new Promise((resolve) => setImmediate(resolve)); // what it sent last is read
    assert.deepEqual(
      seen.filter((s) => s !== 'channel closed'),
      ['ws echo last words', 'body answered /slow', 'end 1', 'log stop handler done'],
    );
  } finally {
    child.kill('SIGKILL');
    channel.close();
  }
});
