// What the SDK sends fits what the supervisor takes: a frame's payload is at
// most its limit (AP_CHANNEL_MAX_PAYLOAD, never below MIN_MAX_PAYLOAD), else
// the supervisor cuts the whole service off. A large response body leaves in
// pieces; a WebSocket message larger than the limit is refused where it is sent.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { decodeJson, Kind, MIN_MAX_PAYLOAD, type Frame } from '../../src/channel';
import { sdkChild } from '../harness/sdk';

const BODY = 3 * 1024 * 1024 + 5;

// As the supervisor starts it, with its limit in the environment.
const SERVICE = `
process.env.AP_CHANNEL_MAX_PAYLOAD = '${MIN_MAX_PAYLOAD}';
import('./src/sdk/index.ts').then(({ createService }) => {
  const service = createService({
    http(req, res) { res.end(Buffer.alloc(${BODY}, 97)); },
    websocket: {
      message(conn, data) {
        try {
          conn.send(Buffer.alloc(${MIN_MAX_PAYLOAD} + 1));
          service.log('info', 'sent');
        } catch (err) {
          service.log('info', err.name + ': ' + err.message);
        }
      },
    },
  });
});
`;

it('sends a large response body in frames the supervisor takes, and refuses a WebSocket message over the limit with an error', async () => {
  const bodyFrames: number[] = [];
  const logs: string[] = [];
  let ended!: () => void;
  const end = new Promise<void>((resolve) => (ended = resolve));
  const { child, channel } = await sdkChild(SERVICE, (frame: Frame) => {
    if (frame.kind === Kind.HTTP_RESPONSE_BODY) bodyFrames.push(frame.payload.length);
    else if (frame.kind === Kind.HTTP_RESPONSE_END) ended();
    else if (frame.kind === Kind.CONTROL) {
      const message = decodeJson(frame);
      if (message.type === 'log') logs.push(String(message.message));
    }
  });
  try {
    channel.send(Kind.HTTP_HEAD, 1, Buffer.from(JSON.stringify({ method: 'GET', url: '/big', query: '', headers: {}, instance: null, remote: '127.0.0.1' })));
    channel.send(Kind.HTTP_END, 1);
    await end;
    assert.equal(bodyFrames.reduce((a, b) => a + b, 0), BODY, 'the whole body arrives');
    assert.ok(bodyFrames.every((n) => n <= MIN_MAX_PAYLOAD), `every frame within the limit: ${bodyFrames.join(', ')}`);

    channel.send(Kind.WS_OPEN, 2, Buffer.from(JSON.stringify({ url: '/ws', query: '', headers: {}, instance: null, remote: '127.0.0.1' })));
    channel.send(Kind.WS_TEXT, 2, Buffer.from('send too much'));
    while (logs.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.match(logs[0]!, /^RangeError: .*1048577 bytes.*1048576/);
  } finally {
    child.kill('SIGKILL');
    channel.close();
  }
});
