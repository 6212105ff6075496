// HEAD answers as GET without the body, on both ports, and a bare / leads to
// the Manager (the bundled supervisor, over raw sockets so that a body sent
// after a HEAD answer would show).
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let run: Run;
let app: number;
let manager: number;

before(async () => {
  dir = await workspace('ap-head-');
  const root = await rootWithConfig(dir, { instances: [{ service: 'pbxecho', name: 'p1', domain: 'example.com', password: 'pw' }] });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  ({ app, manager } = await readyPorts(run));
  const ctl = (...args: string[]) => runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(ctl('service', 'install', await buildFixture('pbxecho', join(dir, 'packages'))).status, 0);
  await until('pbxecho running', async () => (JSON.parse(ctl('service', 'list').stdout).some((s: { state: string }) => s.state === 'running') ? true : undefined));
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

interface Raw {
  readonly status: number;
  /** Header names in lowercase; Date left out (it ticks). */
  readonly headers: Record<string, string>;
  /** Every byte after the head, until the server closed the connection. */
  readonly body: string;
}

/** One request with Connection: close; everything the server sent until it closed. */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (text += c));
    socket.on('error', reject);
    socket.on('close', () => {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no answer head: ${JSON.stringify(text)}`));
      const [first, ...lines] = text.slice(0, end).split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        if (name !== 'date') parsed[name] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(first!.split(' ')[1]), headers: parsed, body: text.slice(end + 4) });
    });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}Connection: close\r\n\r\n`);
  });
}

/** GET and HEAD of one URL: the same status and headers, HEAD without a body and with the GET body's length. */
async function sameAsGet(port: number, path: string, headers: Record<string, string> = {}): Promise<Raw> {
  const get = await raw(port, 'GET', path, headers);
  const head = await raw(port, 'HEAD', path, headers);
  assert.equal(head.body, '', `HEAD ${path} sent a body`);
  assert.equal(head.status, get.status, `HEAD ${path}`);
  const { 'content-length': length, ...rest } = head.headers;
  const { 'content-length': getLength, 'transfer-encoding': chunked, ...getRest } = get.headers;
  assert.deepEqual(rest, getRest, `HEAD ${path}: headers`);
  assert.equal(Number(length), Buffer.byteLength(get.body, 'latin1'), `HEAD ${path}: Content-Length of the GET body`);
  if (chunked === undefined) assert.equal(getLength, length);
  return get;
}

describe('HEAD is GET without a body', () => {
  it("on the Manager's port: the UI, its files, health, the API (before and after login) and the redirects", async () => {
    const ui = await sameAsGet(manager, '/manager/');
    assert.equal(ui.status, 200);
    assert.match(ui.body, /App Platform Manager/);
    assert.equal((await sameAsGet(manager, '/manager/app.js')).status, 200);
    assert.equal((await sameAsGet(manager, '/manager/app.js', { 'Accept-Encoding': 'gzip' })).headers['content-encoding'], 'gzip');
    assert.equal((await sameAsGet(manager, '/manager/health')).status, 200);
    assert.equal((await sameAsGet(manager, '/manager/api/openapi.json')).status, 200);
    assert.equal((await sameAsGet(manager, '/manager/api/session')).status, 401);
    assert.equal((await sameAsGet(manager, '/manager/nothing')).status, 404);
    assert.equal((await sameAsGet(manager, '/manager')).headers.location, '/manager/');

    const login = await fetch(`http://127.0.0.1:${manager}/manager/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'pwd' }) });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const session = await sameAsGet(manager, '/manager/api/session', { Cookie: cookie });
    assert.equal(session.status, 200);
    assert.equal(JSON.parse(session.body).mustChangePassword, true);
  });

  it('on a download (a Manager backup): its headers and no body; the GET still carries it', async () => {
    const api = `http://127.0.0.1:${manager}/manager/api`;
    const json = { 'content-type': 'application/json' };
    const first = await fetch(`${api}/session`, { method: 'POST', headers: json, body: JSON.stringify({ password: 'pwd' }) });
    const { csrf } = (await first.json()) as { csrf: string };
    const changed = await fetch(`${api}/password`, {
      method: 'POST',
      headers: { ...json, cookie: first.headers.get('set-cookie')!.split(';')[0]!, 'x-csrf-token': csrf },
      body: JSON.stringify({ current: 'pwd', password: 'head-test-pass-2026' }),
    });
    assert.equal(changed.status, 200);
    const login = await fetch(`${api}/session`, { method: 'POST', headers: json, body: JSON.stringify({ password: 'head-test-pass-2026' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;

    const head = await raw(manager, 'HEAD', '/manager/api/backups/manager/download', { Cookie: cookie });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['content-type'], 'application/octet-stream');
    assert.match(head.headers['content-disposition']!, /^attachment; filename="backup-manager-\d{8}-\d{6}\.dump"$/);
    const get = await raw(manager, 'GET', '/manager/api/backups/manager/download', { Cookie: cookie });
    assert.equal(get.status, 200);
    assert.equal(get.headers['content-type'], head.headers['content-type']);
    assert.ok(get.body.length > 100, 'the GET carries the backup');
  });

  it("on the apps' port: health, the Manager's redirect, and what is not there", async () => {
    assert.equal((await sameAsGet(app, '/manager/health')).status, 200);
    assert.equal((await sameAsGet(app, '/manager/')).status, 302);
    assert.equal((await sameAsGet(app, '/example.com/nothing')).status, 404);
  });

  it("on the apps' port: an app's static files (plain and gzip) and their redirect, and the supervisor lives on", async () => {
    const file = await sameAsGet(app, '/example.com/p1/130004/app.js');
    assert.equal(file.status, 200);
    assert.ok(file.body.length > 0);
    assert.equal((await sameAsGet(app, '/example.com/p1/130004/app.htm', { 'Accept-Encoding': 'gzip' })).status, 200);
    assert.equal((await sameAsGet(app, '/example.com/p1/app.js')).headers.location, '/example.com/p1/130004/app.js');
    assert.equal((await sameAsGet(app, '/example.com/p1/130004/none.js')).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${app}/manager/health`)).status, 200);
  });
});

describe('/', () => {
  it("leads to the Manager: on its port to /manager/, on the apps' port to the Manager's origin, as /manager/ does", async () => {
    const own = await sameAsGet(manager, '/');
    assert.equal(own.status, 301);
    assert.equal(own.headers.location, '/manager/');

    const fromApps = await sameAsGet(app, '/');
    const managerFromApps = await raw(app, 'GET', '/manager/');
    assert.equal(fromApps.status, 302);
    assert.equal(fromApps.headers.location, `http://127.0.0.1:${manager}/manager/`);
    assert.equal(fromApps.headers.location, managerFromApps.headers.location);
    const followed = await fetch(`http://127.0.0.1:${app}/`);
    assert.equal(followed.status, 200);
    assert.match(await followed.text(), /App Platform Manager/);
  });
});
