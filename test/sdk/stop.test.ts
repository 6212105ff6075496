// The SDK's answer to the control `stop`, in a real child process spoken to
// as the supervisor does: every frame sent before `stop` is handled, the
// handlers' promises and the service's own stop handler are waited for, the
// last answers leave, and the process exits by itself with 0.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decodeJson, Kind, type Frame } from '../../src/channel';
import { sdkChild } from '../harness/sdk';

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
  const seen: string[] = [];
  const { child, channel, control, exited } = await sdkChild(SERVICE, (frame: Frame) => {
    if (frame.kind === Kind.CONTROL) {
      const message = decodeJson(frame);
      if (message.type === 'log') seen.push(`log ${String(message.message)}`);
    } else if (frame.kind === Kind.HTTP_RESPONSE_BODY) seen.push(`body ${Buffer.from(frame.payload).toString()}`);
    else if (frame.kind === Kind.HTTP_RESPONSE_END) seen.push(`end ${frame.stream}`);
    else if (frame.kind === Kind.WS_TEXT) seen.push(`ws ${Buffer.from(frame.payload).toString()}`);
  });
  try {
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
      seen,
      ['ws echo last words', 'body answered /slow', 'end 1', 'log stop handler done'],
    );
  } finally {
    child.kill('SIGKILL');
    channel.close();
  }
});
