#!/usr/bin/env node
// What the pinned uWebSockets.js (20.30) does on its own, with no code of
// ours: a bare App on a loopback port and raw sockets. Prints one line per
// case (what came back, and whether uWS closed the connection). These are the
// README's "Known limitations"; run it again after a uWS upgrade.
//
//   node tools/uws-limits.mjs
import { createRequire } from 'node:module';
import { connect } from 'node:net';

const uws = createRequire(import.meta.url)('uWebSockets.js');
const app = uws.App();
app.get('/sync', (res) => res.end('sync'));
app.get('/async', (res) => {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  setImmediate(() => aborted || res.cork(() => res.end('async')));
});
app.post('/body', (res, req) => {
  const framing = `content-length=${req.getHeader('content-length')} transfer-encoding=${req.getHeader('transfer-encoding')}`;
  let received = 0;
  res.onAborted(() => {});
  res.onData((chunk, last) => {
    received += chunk.byteLength;
    if (last) res.cork(() => res.end(`${framing} body=${received}`));
  });
});
app.any('/*', (res) => res.end('any'));

const get = (path, version = 'HTTP/1.1', extra = '') => `GET ${path} ${version}\r\nHost: x\r\n${extra}\r\n`;
const cases = [
  ['pipelined, both answered at once', get('/sync') + get('/sync')],
  ['pipelined, the first answered later', get('/async') + get('/sync')],
  ['HTTP/1.0', get('/sync', 'HTTP/1.0')],
  ['HTTP/1.1 without Host', 'GET /sync HTTP/1.1\r\n\r\n'],
  ['60 header lines', get('/sync', 'HTTP/1.1', Array.from({ length: 60 }, (_, i) => `X-${i}: v\r\n`).join(''))],
  ['Content-Length 3 and 5', 'POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde'],
  ['Transfer-Encoding: xchunked', 'POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
  ['Transfer-Encoding and Content-Length', 'POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
];

/** Sends `request`; resolves with what came back once uWS closes, or after `waitMs` of silence. */
function probe(port, request, waitMs = 1500) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let timer;
    const finish = (how) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, how });
    };
    const quiet = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish('still open, no more data'), waitMs);
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      quiet();
    });
    socket.on('error', () => {});
    socket.on('close', () => finish('closed by uWS'));
    socket.on('connect', () => {
      socket.write(request);
      quiet();
    });
  });
}

app.listen('127.0.0.1', 0, async (token) => {
  if (!token) throw new Error('cannot listen');
  const port = uws.us_socket_local_port(token);
  for (const [name, request] of cases) {
    const { text, how } = await probe(port, request);
    const answers = text.match(/HTTP\/1\.1 \d+[^\r]*/g) ?? [];
    const bodies = text.split('\r\n\r\n').slice(1).map((b) => b.replace(/HTTP\/1\.1[\s\S]*/, '')).filter(Boolean);
    console.log(`${name}: ${answers.length} answer(s) [${answers.join('; ')}] ${bodies.length ? `bodies [${bodies.join('; ')}] ` : ''}— ${how}`);
  }
  uws.us_listen_socket_close(token);
  process.exit(0);
});
