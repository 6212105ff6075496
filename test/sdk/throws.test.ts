// A handler that throws is the service's own failure, whether it throws at
// once or its promise rejects: the process ends as Node ends on an uncaught
// exception (exit code 1, the error on stderr, which goes to the service's
// log), never quietly with 0 as if the supervisor had gone.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Kind } from '../../src/channel';
import { sdkChild } from '../harness/sdk';

const SERVICE = `
import { createService } from './src/sdk/index.ts';
createService({
  websocket: {
    message(conn, data) {
      if (data === 'throw') throw new Error('the handler broke');
      return Promise.reject(new Error('the promise broke'));
    },
  },
});
`;

for (const [message, how] of [['throw', 'at once'], ['reject', 'by its promise']] as const) {
  it(`ends with exit code 1 when a handler throws ${how}`, async () => {
    const { child, channel, exited } = await sdkChild(SERVICE, () => {}, () => {}, 'pipe');
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    try {
      channel.send(Kind.WS_OPEN, 1, Buffer.from(JSON.stringify({ url: '/ws', query: '', headers: {}, instance: null, remote: '127.0.0.1' })));
      channel.send(Kind.WS_TEXT, 1, Buffer.from(message));
      assert.deepEqual(await exited, [1, null]);
      assert.match(stderr, message === 'throw' ? /Error: the handler broke/ : /Error: the promise broke/);
    } finally {
      child.kill('SIGKILL');
      channel.close();
    }
  });
}
