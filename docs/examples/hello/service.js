// The smallest App Platform service: plain JavaScript, nothing to build or
// install. It speaks the supervisor's channel itself (docs/channel.md): frames
// on fd 3, `u32 length | u8 kind | u32 stream | payload`, big-endian.
// It answers every HTTP request on its instances' paths with a line of text
// and every WebSocket message with a greeting. Its own package.json says
// "commonjs", so it runs the same wherever the package lies.
'use strict';
const net = require('node:net');

const KIND = {
  CONTROL: 0x01, ABORT: 0x04,
  HTTP_HEAD: 0x10, HTTP_END: 0x12, HTTP_RESPONSE: 0x18, HTTP_RESPONSE_BODY: 0x19, HTTP_RESPONSE_END: 0x1a,
  WS_OPEN: 0x20, WS_TEXT: 0x21, WS_CLOSE: 0x23,
};

const channel = new net.Socket({ fd: Number(process.env.AP_CHANNEL_FD || 3), readable: true, writable: true });
const instances = new Map(); // by id, name@domain: what HTTP_HEAD and WS_OPEN carry as `instance`
const requests = new Map(); // HTTP stream → its head, until the body has ended
const sockets = new Map(); // WebSocket stream → its instance

function send(kind, stream, payload) {
  const body = payload === undefined ? Buffer.alloc(0) : Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + body.length, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(stream, 5);
  channel.write(Buffer.concat([head, body]));
}

function onControl(message) {
  const id = `${message.name}@${message.domain}`;
  if (message.type === 'instance.start' || message.type === 'instance.config') instances.set(id, message);
  else if (message.type === 'instance.stop') instances.delete(id);
  else if (message.type === 'ping') send(KIND.CONTROL, 0, { type: 'pong' });
  // Everything before `stop` has been answered already (this service answers at once): send the rest and exit.
  else if (message.type === 'stop') channel.end(() => process.exit(0));
}

function onFrame(kind, stream, payload) {
  switch (kind) {
    case KIND.CONTROL:
      return onControl(JSON.parse(payload.toString('utf8')));
    case KIND.HTTP_HEAD:
      return void requests.set(stream, JSON.parse(payload.toString('utf8')));
    case KIND.HTTP_END: {
      // The request body (HTTP_BODY frames) is not needed here; answer once it has ended.
      const head = requests.get(stream);
      requests.delete(stream);
      if (!head) return;
      const text = Buffer.from(`hello from ${head.instance} (${head.method} ${head.url})\n`);
      send(KIND.HTTP_RESPONSE, stream, { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length) } });
      send(KIND.HTTP_RESPONSE_BODY, stream, text);
      return send(KIND.HTTP_RESPONSE_END, stream);
    }
    case KIND.ABORT:
      return void requests.delete(stream);
    case KIND.WS_OPEN: {
      const { instance } = JSON.parse(payload.toString('utf8'));
      sockets.set(stream, instance);
      return send(KIND.WS_TEXT, stream, `hello from ${instance}`);
    }
    case KIND.WS_TEXT:
      return send(KIND.WS_TEXT, stream, `${sockets.get(stream)} heard: ${payload.toString('utf8')}`);
    case KIND.WS_CLOSE:
      return void sockets.delete(stream);
    default:
      return; // binary messages, pause and resume: not used by this example
  }
}

let buffered = Buffer.alloc(0);
channel.on('data', (chunk) => {
  buffered = Buffer.concat([buffered, chunk]);
  while (buffered.length >= 4 && buffered.length >= 4 + buffered.readUInt32BE(0)) {
    const length = buffered.readUInt32BE(0);
    onFrame(buffered.readUInt8(4), buffered.readUInt32BE(5), buffered.subarray(9, 4 + length));
    buffered = buffered.subarray(4 + length);
  }
});
// The supervisor is gone: so are our clients.
channel.on('close', () => process.exit(0));
channel.on('error', () => process.exit(0));

// features: it answers the control `stop` (a restart loses none of its clients' messages).
send(KIND.CONTROL, 0, { type: 'hello', sdk: 1, pid: process.pid, features: ['stop'] });
send(KIND.CONTROL, 0, { type: 'ready' });
console.log('hello: ready');
