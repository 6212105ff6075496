// Strict HTTP at the bundled supervisor's door, over raw sockets: ambiguous
// framing refused, head limits on every route, nothing long reflected, HSTS on
// HTTPS; and what uWebSockets.js 20.30 does on its own (todo tests that fail
// loudly once a uWS build behaves; README, Known limitations).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { connect as tcp } from 'node:net';
import { join } from 'node:path';
import { connect as tls } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { errorBody } from '../../src/api';
import { ApError } from '../../src/errors';
import { fetchRaw, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let app: number;
let httpsPort: number;

const ctl = (...args: string[]) => JSON.parse(runApSync(['ctl', ...args, '--json', '--root', root]).stdout);

before(async () => {
  dir = await workspace('ap-http-');
  root = await rootWithConfig(dir, { instances: [{ service: 'echo', name: 'echo1', domain: 'example.com', password: 'pw' }] });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--max-header-size', '8K']);
  app = (await readyPorts(run)).app;
  httpsPort = ctl('status').http.httpsPort;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
  await until('echo running', async () => (ctl('service', 'list').find((s: { name: string; state: string }) => s.state === 'running') ? true : undefined));
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

interface Exchange {
  /** Everything the server sent, as latin1 text. */
  readonly text: string;
  /** Whether the server closed the connection (else `done` said enough). */
  readonly closed: boolean;
}

/**
 * Writes `request` on a fresh connection and collects the answer until the
 * server closes or `done(text)` holds; uWS closes idle connections after 10 s.
 */
function exchange(request: string, done: (text: string) => boolean = () => false, secure = false): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = secure ? tls({ host: '127.0.0.1', port: httpsPort, rejectUnauthorized: false }) : tcp(app, '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve({ text, closed });
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (done(text)) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.once(secure ? 'secureConnect' : 'connect', () => socket.write(request));
  });
}

/** Complete HTTP/1.1 answers in `text`: bodies by Content-Length, or chunked. */
function answers(text: string): { status: number; headers: string; body: string }[] {
  const out = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return out;
    const headers = rest.slice(0, end);
    rest = rest.slice(end + 4);
    let body = '';
    if (/\r\ntransfer-encoding: *chunked/i.test(headers)) {
      for (;;) {
        const line = rest.indexOf('\r\n');
        if (line < 0) return out;
        const size = parseInt(rest.slice(0, line), 16);
        if (rest.length < line + 2 + size + 2) return out;
        body += rest.slice(line + 2, line + 2 + size);
        rest = rest.slice(line + 2 + size + 2);
        if (size === 0) break;
      }
    } else {
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
      if (rest.length < length) return out;
      body = rest.slice(0, length);
      rest = rest.slice(length);
    }
    out.push({ status: Number(headers.split(' ')[1]), headers, body });
  }
}

const post = (extra: string, body: string) => `POST /example.com/echo1/echo HTTP/1.1\r\nHost: x\r\n${extra}\r\n${body}`;
const one = (text: string) => answers(text).length >= 1;

describe('request framing', () => {
  it('refuses two different Content-Length values with 400 and closes', async () => {
    const got = await exchange(post('Content-Length: 3\r\nContent-Length: 5\r\n', 'abcde'));
    assert.equal(answers(got.text)[0]?.status, 400, got.text);
    assert.match(answers(got.text)[0]!.body, /Content-Length/);
    assert.ok(got.closed, 'the connection stays open after an ambiguous body');
  });

  it('takes the same Content-Length repeated', async () => {
    const got = await exchange(post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'), one);
    assert.deepEqual(answers(got.text).map((a) => [a.status, a.body]), [[200, 'abc']]);
  });

  it('refuses a Transfer-Encoding other than exactly chunked with 400', async () => {
    for (const encoding of ['xchunked', 'chunked, gzip', 'gzip, chunked', 'identity']) {
      const got = await exchange(post(`Transfer-Encoding: ${encoding}\r\n`, '3\r\nabc\r\n0\r\n\r\n'));
      assert.equal(answers(got.text)[0]?.status, 400, encoding);
      assert.ok(got.closed, encoding);
    }
    const chunked = await exchange(post('Transfer-Encoding:  Chunked \r\n', '3\r\nabc\r\n0\r\n\r\n'), one);
    assert.deepEqual(answers(chunked.text).map((a) => [a.status, a.body]), [[200, 'abc']]);
  });

  it('never runs a request with both Transfer-Encoding and Content-Length', async () => {
    // uWS 20.30 closes such a connection itself before any route runs (no 400: see the todo below).
    const got = await exchange(post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '3\r\nabc\r\n0\r\n\r\n'), one);
    assert.ok(answers(got.text).every((a) => a.status !== 200), got.text);
  });

  it('applies --max-header-size to /manager/* as to the apps', async () => {
    const big = `X-Big: ${'a'.repeat(9000)}\r\n`;
    for (const path of ['/manager/health', '/manager/boot', '/manager/api/status', '/example.com/echo1/hello']) {
      const got = await exchange(`GET ${path} HTTP/1.1\r\nHost: x\r\n${big}\r\n`, one);
      assert.equal(answers(got.text)[0]?.status, 431, path);
    }
    assert.equal((await fetchRaw(`http://127.0.0.1:${app}/manager/health`, { headers: { 'x-small': 'a'.repeat(1000) } })).status, 200);
  });
});

describe('error bodies', () => {
  it('show at most 200 characters of a long URL', async () => {
    // Longer than any error should quote, shorter than the head limit (8K here): a head over
    // the limit is cut by uWS itself when it arrives in several reads, which loopback may or
    // may not do, so a 100 KB URL gets a 404 or a closed connection by chance.
    for (const path of [`/${'a'.repeat(6_000)}`, `/nothing/${'b'.repeat(5_000)}\u0001`]) {
      const answer = await fetchRaw(`http://127.0.0.1:${app}${path}`);
      assert.equal(answer.status, 404);
      assert.ok(answer.body.length < 300, `${answer.body.length} bytes: ${answer.body.toString().slice(0, 80)}…`);
      assert.doesNotMatch(answer.body.toString().trimEnd(), /[\u0000-\u001f]/);
    }
  });

  it('of the API quote no word longer than 200 characters', () => {
    const body = errorBody(new ApError('NOT_FOUND', `no API resource /manager/api/${'b'.repeat(900_000)}\u0007`));
    assert.ok(body.error.message.length < 260, `${body.error.message.length} characters`);
    assert.match(body.error.message, /^no API resource \/manager\/api\/b+…$/);
  });
});

describe('HTTPS', () => {
  const hsts = (headers: string) => /\r\nstrict-transport-security: max-age=31536000\r\n/i.test(headers);

  it('sends Strict-Transport-Security on the Manager, static content and proxied answers', async () => {
    for (const path of ['/manager/health', '/manager/', '/nothing', '/example.com/echo1/hello']) {
      const got = await exchange(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`, one, true);
      const answer = answers(got.text)[0];
      assert.ok(answer, path);
      assert.ok(hsts(answer.headers), `${path}: ${answer.headers}`);
      assert.equal(answer.headers.match(/strict-transport-security/gi)?.length, 1, path);
    }
  });

  it('sends none over plain HTTP', async () => {
    const got = await exchange('GET /manager/health HTTP/1.1\r\nHost: x\r\n\r\n', one);
    assert.equal(answers(got.text)[0]?.status, 200);
    assert.ok(!hsts(answers(got.text)[0]!.headers));
  });
});

describe('pipelining and HTTP/1.0', () => {
  it('answers pipelined requests to routes that answer at once, in order', async () => {
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const got = await exchange(request('/nothing/1') + request('/manager') + request('/nothing/2'), (t) => answers(t).length >= 3);
    assert.deepEqual(answers(got.text).map((a) => a.status), [404, 302, 404]); // /manager on the apps' port points to the Manager's origin
    assert.match(answers(got.text)[2]!.body, /nothing\/2/);
  });

  // uWebSockets.js 20.30 closes a connection whose next request arrives while
  // one is still being answered (tools/uws-limits.mjs shows it with bare uWS).
  it('answers pipelined requests to the health check and the proxy, in order', { todo: 'uWS 20.30 closes the connection on a pipelined request while one is pending' }, async () => {
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const got = await exchange(request('/manager/health') + request('/example.com/echo1/hello'), (t) => answers(t).length >= 2);
    assert.deepEqual(answers(got.text).map((a) => a.status), [200, 200]);
  });

  it('answers HTTP/1.0 requests', { todo: 'uWS 20.30 parses only HTTP/1.1 request lines and never answers others' }, async () => {
    const got = await exchange('GET /nothing HTTP/1.0\r\n\r\n', one);
    assert.equal(answers(got.text)[0]?.status, 404);
  });

  it('answers 431 to more headers than uWS can hold', { todo: 'uWS 20.30 holds at most 50 header lines and then waits, and closes, without an answer' }, async () => {
    const headers = Array.from({ length: 60 }, (_, i) => `X-${i}: v\r\n`).join('');
    const got = await exchange(`GET /nothing HTTP/1.1\r\nHost: x\r\n${headers}\r\n`, one);
    assert.equal(answers(got.text)[0]?.status, 431);
  });

  it('answers 400 to a request with both Transfer-Encoding and Content-Length', { todo: 'uWS 20.30 closes such connections without an answer' }, async () => {
    const got = await exchange(post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '3\r\nabc\r\n0\r\n\r\n'), one);
    assert.equal(answers(got.text)[0]?.status, 400);
  });
});
