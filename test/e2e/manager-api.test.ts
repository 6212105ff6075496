// The admin API over HTTP through the bundled supervisor: the login, the
// default password, sessions, CSRF/Origin, every documented endpoint behind
// the login, bad input, and a backup downloaded and restored by upload.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, symlink } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { until } from '../harness/http';
import { rootWithConfig, workspace } from '../harness/workspace';
import { openApiErrors } from '../api/lint';

let dir: string;
let root: string;
let run: Run;
let base: string;
let httpsBase: string;
/** The apps' origin: the same host, another port. */
let appsOrigin: string;
const PASSWORD = 'a-good-pass-2026';

interface Answer {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A client with a cookie jar, as a browser is; `from` is its own address
 * (127.0.0.x), since the login throttle counts per address.
 */
class Client {
  cookie = '';
  csrf = '';
  constructor(
    private readonly url: string,
    private readonly from = '127.0.0.1',
  ) {}

  call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(`${this.url}/manager/api${path}`, {
        method,
        localAddress: this.from,
        agent: false,
        headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}), ...headers },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const set = res.headers['set-cookie'];
          if (set?.[0]) this.cookie = set[0].split(';')[0]!;
          const raw = Buffer.concat(chunks);
          const json = String(res.headers['content-type'] ?? '').includes('json');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: json ? JSON.parse(raw.toString()) : raw });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** A state-changing call with the CSRF token. */
  act(method: string, path: string, body?: unknown): Promise<Answer> {
    return this.call(method, path, body, { 'x-csrf-token': this.csrf });
  }

  async login(password: string): Promise<Answer> {
    const answer = await this.call('POST', '/session', { password });
    if (answer.status === 200) this.csrf = answer.body.csrf;
    return answer;
  }
}

before(async () => {
  dir = await workspace('ap-mgr-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  const ports = await readyPorts(run);
  base = `http://127.0.0.1:${ports.manager}`;
  appsOrigin = `http://127.0.0.1:${ports.app}`;
  const status = JSON.parse(runApSync(['ctl', 'status', '--json', '--root', root]).stdout);
  httpsBase = `https://127.0.0.1:${status.http.managerHttpsPort}`;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('Manager API over HTTP', () => {
  it('keeps every documented endpoint behind the login', async () => {
    const anonymous = new Client(base);
    const doc = (await anonymous.call('GET', '/openapi.json')).body;
    assert.equal(doc.openapi, '3.1.0');
    let checked = 0;
    for (const [pattern, operations] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(operations)) {
        if (pattern === '/session' && method === 'post') continue;
        const path = pattern.replace(/\{\w+\}/g, 'x@example.com');
        const answer = await anonymous.call(method.toUpperCase(), path, method === 'get' || method === 'delete' ? undefined : {});
        assert.equal(answer.status, 401, `${method} ${pattern}`);
        assert.equal(answer.body.error.code, 'UNAUTHENTICATED', `${method} ${pattern}`);
        checked++;
      }
    }
    assert.ok(checked > 40, `${checked} operations`);
  });

  it('serves an OpenAPI document that passes the Redocly linter, with real schemas', async () => {
    const doc = (await new Client(base).call('GET', '/openapi.json')).body;
    assert.deepEqual(await openApiErrors(doc), []);
    const create = doc.paths['/instances'].post;
    assert.deepEqual(create.requestBody.content['application/json'].schema.required, ['service', 'name', 'domain']);
    assert.ok(create.parameters.some((p: { name: string; in: string }) => p.name === 'adoptDatabase' && p.in === 'query'));
    assert.ok(doc.paths['/certificate/download'].get.responses['200'].content['application/x-pem-file']);
  });

  it('refuses wrong passwords, throttled per address', async () => {
    const client = new Client(base);
    const wrong = await client.login('nope');
    assert.deepEqual([wrong.status, wrong.body.error.code], [401, 'LOGIN_FAILED']);
    let throttled: Answer | null = null;
    for (let i = 0; i < 10 && !throttled; i++) {
      const a = await client.login('nope');
      if (a.status === 429) throttled = a;
    }
    assert.equal(throttled?.body.error.code, 'TOO_MANY_ATTEMPTS');
    await run.waitFor(/Manager login from 127\.0\.0\.1 failed/, 10_000);
  });

  it('lets the default password do nothing but choose a new one, under the rules', async () => {
    // Another address: the throttle of the test above is per address.
    const use = new Client(base, '127.0.0.2');
    assert.equal((await use.login('pwd')).status, 200);
    const session = await use.call('GET', '/session');
    assert.equal(session.body.mustChangePassword, true);
    const blocked = await use.call('GET', '/instances');
    assert.deepEqual([blocked.status, blocked.body.error.code], [403, 'PASSWORD_CHANGE_REQUIRED']);
    for (const [password, pattern] of [
      ['short', /at least 8 characters/],
      ['password123', /too common/],
      ['pwd', /at least 8/],
    ] as const) {
      const bad = await use.act('POST', '/password', { current: 'pwd', password });
      assert.equal(bad.status, 400, password);
      assert.match(bad.body.error.message, pattern);
    }
    const wrongCurrent = await use.act('POST', '/password', { current: 'nope', password: PASSWORD });
    assert.deepEqual([wrongCurrent.status, wrongCurrent.body.error.field], [400, 'current']);
    assert.equal((await use.act('POST', '/password', { current: 'pwd', password: PASSWORD })).status, 200);
    assert.equal((await use.call('GET', '/instances')).status, 200);
    assert.equal((await new Client(base, '127.0.0.3').login('pwd')).status, 401);
  });

  it('needs the CSRF token or this site\'s Origin to change anything, and never changes state on GET', async () => {
    const client = new Client(base, '127.0.0.4');
    assert.equal((await client.login(PASSWORD)).status, 200);
    assert.equal(client.cookie.startsWith('ap_session='), true);
    const noToken = await client.call('POST', '/instances', { service: 'echo', name: 'csrf', domain: 'example.com' });
    assert.deepEqual([noToken.status, noToken.body.error.code], [403, 'CSRF']);
    const foreign = await client.call('POST', '/instances', { service: 'echo', name: 'csrf', domain: 'example.com' }, { origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    // Same host, the apps' port: same-site, so the cookie rides along, but not the Manager's origin.
    const fromApps = await client.call('POST', '/instances', { service: 'echo', name: 'csrf', domain: 'example.com' }, { origin: appsOrigin });
    assert.deepEqual([fromApps.status, fromApps.body.error.code], [403, 'CSRF']);
    const sameSite = await client.call('POST', '/instances', { service: 'echo', name: 'csrf', domain: 'example.com' }, { origin: base });
    assert.equal(sameSite.status, 201, JSON.stringify(sameSite.body));
    const viaGet = await client.call('GET', '/instances/csrf@example.com/stop');
    assert.equal(viaGet.status, 405);
    assert.equal((await client.call('GET', '/instances/csrf@example.com')).body.wanted, 'running');
    assert.equal((await client.act('DELETE', '/instances/csrf@example.com?dropDatabase=true')).status, 200);

    // Every documented operation that changes state, without the token: 403, and nothing changed.
    const state = async () => JSON.stringify([(await client.call('GET', '/instances')).body, (await client.call('GET', '/settings')).body, (await client.call('GET', '/services')).body.services.map((x: { name: string; state: string }) => [x.name, x.state]), (await client.call('GET', '/jobs')).body.jobs.length]);
    const before = await state();
    const doc = (await client.call('GET', '/openapi.json')).body;
    let checked = 0;
    for (const [pattern, operations] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(operations).map((m) => m.toUpperCase())) {
        if (method === 'GET' || (pattern === '/session' && method === 'POST')) continue;
        const path = pattern.replace('{name}', 'echo').replace('{id}', 'web1@example.com').replace(/\{\w+\}/g, 'root');
        const answer = await client.call(method, path, { confirm: true, value: 'x', password: 'a-good-pass-2026', current: PASSWORD, pem: 'x' });
        assert.deepEqual([answer.status, answer.body.error?.code], [403, 'CSRF'], `${method} ${pattern}`);
        checked++;
      }
    }
    assert.ok(checked > 25, `${checked} operations`);
    assert.equal(await state(), before);
    assert.equal((await client.call('GET', '/session')).status, 200, 'still logged in');
  });

  it('answers bad input with 4xx, the error code, and no change', async () => {
    const client = new Client(base, '127.0.0.5');
    await client.login(PASSWORD);
    const before = (await client.call('GET', '/instances')).body.instances.length;
    for (const [method, path, body, status, code] of [
      ['POST', '/instances', { service: 'echo', name: "o'brien", domain: 'example.com' }, 400, 'INVALID_FIELD'],
      ['POST', '/instances', '{not json', 400, 'BAD_REQUEST'],
      ['POST', '/instances', { service: 'echo', name: 'x', domain: 'example.com', colour: 'red' }, 400, 'INVALID_FIELD'],
      ['PUT', '/settings/diskThreshold', { value: '120' }, 400, 'INVALID_FIELD'],
      ['POST', '/instances/none@example.com/start', {}, 404, 'NOT_FOUND'],
      ['GET', '/nothing/here', undefined, 404, 'NOT_FOUND'],
    ] as const) {
      const answer = await client.act(method, path, body);
      assert.deepEqual([answer.status, answer.body.error?.code], [status, code], `${method} ${path}`);
    }
    assert.equal((await client.call('GET', '/instances')).body.instances.length, before);
    assert.equal((await client.call('GET', '/settings')).body.settings.diskThreshold.value, '95');
  });

  it('refuses a JSON body over 1 MiB at once, declared or as it grows (no reading it to its end), and closes the connection', async () => {
    const { port } = new URL(base);
    /** Sends `head`, then `chunk` again and again until the box answers (or `most` bytes): what came back, and the bytes sent by then. */
    const push = (head: string, chunk: Buffer | null, most: number) =>
      new Promise<{ answer: string; sent: number; closed: boolean }>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1');
        let answer = '';
        let sent = 0;
        let closed = false;
        const done = () => resolve({ answer, sent, closed });
        const timer = setTimeout(() => (socket.destroy(), done()), 20_000);
        socket.on('error', () => undefined);
        socket.on('data', (d) => (answer += d.toString('latin1')));
        socket.on('close', () => {
          closed = true;
          clearTimeout(timer);
          done();
        });
        socket.on('connect', () => {
          socket.write(head);
          const more = () => {
            while (chunk && !answer && !closed && sent < most) {
              sent += chunk.length;
              if (!socket.write(chunk)) return void socket.once('drain', more);
            }
          };
          more();
        });
        socket.on('timeout', reject);
      });
    // Declared larger: answered before a byte of it is sent.
    const declared = await push(`POST /manager/api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n`, null, 0);
    assert.match(declared.answer, /^HTTP\/1\.1 413 /);
    assert.match(declared.answer, /the request body \(50000000 bytes\) is larger than the 1048576 bytes/);
    assert.equal(declared.closed, true, 'the connection stays open for a body that is not read');
    // Chunked without end: answered once past 1 MiB, not when (never) it ends (uWS 20.30 takes no chunked
    // request body at all and closes at once, without an answer: either way nothing is read to its end).
    const piece = Buffer.from(`10000\r\n${'x'.repeat(0x10000)}\r\n`);
    const chunked = await push(`POST /manager/api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, piece, 200 * 1024 * 1024);
    assert.match(chunked.answer, /^(HTTP\/1\.1 413 |$)/, `after ${chunked.sent} bytes: ${chunked.answer.slice(0, 200)}`);
    assert.ok(chunked.sent < 32 * 1024 * 1024, `${chunked.sent} bytes were taken before the answer`);
    assert.equal(chunked.closed, true);
    // The box still answers.
    assert.equal((await new Client(base, '127.0.0.6').call('GET', '/session')).status, 401);
  });

  it('downloads a backup and restores it by upload under another name', async () => {
    const client = new Client(base, '127.0.0.6');
    await client.login(PASSWORD);
    assert.equal((await client.act('POST', '/instances', { service: 'echo', name: 'orig', domain: 'example.com' })).status, 201);
    const download = await client.call('GET', '/backups/instances/orig@example.com/download');
    assert.equal(download.status, 200);
    // The seed's how-to names it so (pg_restore -d exampledb backup-exampledb.dump), and it is a pg_dump archive.
    assert.match(String(download.headers['content-disposition']), /^attachment; filename="backup-example\.com_orig\.dump"$/);
    assert.equal(download.body.subarray(0, 5).toString(), 'PGDMP');
    const started = await client.call('POST', '/restores/instances/upload?name=copy', download.body, { 'x-csrf-token': client.csrf, 'content-type': 'application/octet-stream' });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await until('restore job', async () => {
      const job = (await client.call('GET', `/jobs/${started.body.id}`)).body;
      return job.state === 'running' ? undefined : job;
    });
    assert.equal(done.state, 'succeeded', done.message);
    assert.equal((await client.call('GET', '/instances/copy@example.com')).body.database.name, 'example.com_copy');
  });

  it('downloads the served certificate without its key, and gives diagnostics', async () => {
    const client = new Client(base, '127.0.0.10');
    await client.login(PASSWORD);
    const pem = await client.call('GET', '/certificate/download');
    assert.equal(pem.status, 200);
    assert.match(pem.body.toString(), /^-----BEGIN CERTIFICATE-----/);
    assert.equal(pem.body.toString().includes('PRIVATE KEY'), false);
    const diagnostics = (await client.call('GET', '/diagnostics')).body;
    assert.equal(diagnostics.status.state, 'running');
    assert.ok(diagnostics.sessions >= 1);
    assert.ok(Array.isArray(diagnostics.jobs));
  });

  it('installs an uploaded app package only in Developer mode, and only plain files', async () => {
    const client = new Client(base, '127.0.0.11');
    await client.login(PASSWORD);
    const folder = await buildFixture('pbxecho', join(dir, 'upload-src'));
    const pack = join(dir, 'pbxecho.tar.gz');
    execFileSync('tar', ['-czf', pack, '-C', folder, '.']);
    const body = await readFile(pack);
    const send = (bytes: Buffer) => client.call('POST', '/services/upload', bytes, { 'x-csrf-token': client.csrf, 'content-type': 'application/octet-stream' });
    const off = await send(body);
    assert.deepEqual([off.status, off.body.error.code], [403, 'DEVELOPER_MODE_OFF']);
    assert.equal((await client.act('PUT', '/settings/developerMode', { value: 'true' })).status, 200);
    const started = await send(body);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const job = await until('install job', async () => {
      const j = (await client.call('GET', `/jobs/${started.body.id}`)).body;
      return j.state === 'running' ? undefined : j;
    });
    assert.equal(job.state, 'succeeded', job.message);
    assert.match(job.message, /installed pbxecho/);
    assert.ok((await client.call('GET', '/services')).body.services.some((s: { name: string }) => s.name === 'pbxecho'));
    // A package with a link in it is refused, and nothing is left behind.
    await symlink('/etc/passwd', join(folder, 'passwd'));
    execFileSync('tar', ['-czf', pack, '-C', folder, '.']);
    const linked = await send(await readFile(pack));
    const refused = await until('refused', async () => {
      const j = (await client.call('GET', `/jobs/${linked.body.id}`)).body;
      return j.state === 'running' ? undefined : j;
    });
    assert.equal(refused.state, 'failed');
    assert.match(refused.message, /symbolic link \(\.\/passwd|symbolic link \(passwd/);
    const garbage = await send(Buffer.from('not a tarball'));
    const bad = await until('garbage refused', async () => {
      const j = (await client.call('GET', `/jobs/${garbage.body.id}`)).body;
      return j.state === 'running' ? undefined : j;
    });
    assert.match(bad.message, /not a readable \.tar\.gz/);
    // The same package file through `ap ctl service install` (root: no Developer mode needed), under the same checks.
    const linkedByCtl = runApSync(['ctl', 'service', 'install', pack, '--root', root]);
    assert.equal(linkedByCtl.status, 1);
    assert.match(linkedByCtl.stderr, /symbolic link/);
    await rm(join(folder, 'passwd'));
    execFileSync('tar', ['-czf', pack, '-C', folder, '.']);
    const byCtl = runApSync(['ctl', 'service', 'install', pack, '--json', '--root', root]);
    assert.equal(byCtl.status, 0, byCtl.stderr);
    assert.equal(JSON.parse(byCtl.stdout).name, 'pbxecho');
    assert.deepEqual((await readdir(join(root, 'mnt/sda2'))).filter((n) => n.startsWith('upload-')), []);
  });

  it('restarts and shuts down only when confirmed (the dev board runs neither)', async () => {
    const client = new Client(base, '127.0.0.9');
    await client.login(PASSWORD);
    const unconfirmed = await client.act('POST', '/system/restart', {});
    assert.deepEqual([unconfirmed.status, unconfirmed.body.error.field], [400, 'confirm']);
    assert.deepEqual((await client.act('POST', '/system/restart', { confirm: true })).body, { restarting: false });
    assert.deepEqual((await client.act('POST', '/system/shutdown', { confirm: true })).body, { shuttingDown: false });
    await run.waitFor(/a shutdown was asked for, but this board does not run one/, 10_000); // the log arrives through a pipe
    // The same from `ap ctl system`, which wants --yes.
    const unsure = runApSync(['ctl', 'system', 'restart', '--root', root]);
    assert.notEqual(unsure.status, 0);
    assert.match(unsure.stderr, /--yes/);
    const sure = runApSync(['ctl', 'system', 'shutdown', '--yes', '--root', root]);
    assert.equal(sure.status, 0, sure.stderr);
    assert.match(sure.stdout, /no shutdown command/);
    // Linux passwords: the Manager's rules first, then the board (the dev board sets none).
    const weak = await client.act('PUT', '/system/linux-users/root/password', { password: 'short' });
    assert.deepEqual([weak.status, weak.body.error.code], [400, 'INVALID_FIELD']);
    const other = await client.act('PUT', '/system/linux-users/postgres/password', { password: 'a-good-pass-2026' });
    assert.equal(other.status, 404);
    const dev = await client.act('PUT', '/system/linux-users/root/password', { password: 'a-good-pass-2026' });
    assert.deepEqual([dev.status, dev.body.error.code], [409, 'UNSUPPORTED']);
    assert.deepEqual((await client.call('GET', '/system/linux-users')).body, { users: ['root', 'admin'], supported: false });
    const byCtl = runApSync(['ctl', 'linux-password', 'admin', '--root', root], {}, 'a-good-pass-2026\n');
    assert.equal(byCtl.status, 1);
    assert.match(byCtl.stderr, /does not set Linux passwords/);
  });

  it('marks the cookie Secure over HTTPS, and logs out', async () => {
    // Over HTTPS (the box's self-signed certificate), from an address the throttle has not seen.
    const cookie = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ password: PASSWORD });
      const req = httpsRequest(`${httpsBase}/manager/api/session`, { method: 'POST', localAddress: '127.0.0.8', rejectUnauthorized: false, agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        res.resume();
        assert.equal(res.statusCode, 200);
        resolve(String(res.headers['set-cookie']?.[0]));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.match(cookie, /^ap_session=[\w-]+; Path=\/manager; HttpOnly; SameSite=Strict; Secure$/);
    const client = new Client(base, '127.0.0.7');
    await client.login(PASSWORD);
    assert.match(String((await client.call('GET', '/session')).headers['cache-control']), /no-store/);
    assert.equal((await client.act('DELETE', '/session')).status, 200);
    assert.equal((await client.call('GET', '/instances')).status, 401);
  });

  it('pushes jobs, changes and service states on /manager/api/events to a logged-in page of this site only', async () => {
    const client = new Client(base, '127.0.0.11');
    assert.equal((await client.login(PASSWORD)).status, 200);
    const url = base.replace('http:', 'ws:') + '/manager/api/events';
    const refused = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers, localAddress: '127.0.0.11' });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).once('open', () => resolve(101)).once('error', () => resolve(-1));
      });
    const host = base.slice('http://'.length);
    assert.equal(await refused({ origin: base }), 401, 'no session');
    assert.equal(await refused({ origin: 'http://evil.example', cookie: client.cookie }), 403, 'another site');
    assert.equal(await refused({ origin: `https://${host}`, cookie: client.cookie }), 403, 'another scheme');
    assert.equal(await refused({ origin: appsOrigin, cookie: client.cookie }), 403, "the apps' port of this host");

    const ws = new WebSocket(url, { headers: { origin: base, cookie: client.cookie }, localAddress: '127.0.0.11' });
    const seen: any[] = [];
    const waiters: { test: (e: any) => boolean; resolve: (e: any) => void }[] = [];
    ws.on('message', (data) => {
      const event = JSON.parse(String(data));
      seen.push(event);
      for (const w of [...waiters]) if (w.test(event)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(event));
    });
    const next = (test: (e: any) => boolean) => {
      const found = seen.find(test);
      return found ? Promise.resolve(found) : new Promise<any>((resolve) => waiters.push({ test, resolve }));
    };
    await next((e) => e.type === 'hello');
    // A change by any client, the admin socket too.
    assert.equal(runApSync(['ctl', 'setting', 'set', 'diskThreshold', '85', '--root', root]).status, 0);
    await next((e) => e.type === 'changed' && e.method === 'PUT' && e.path === '/settings/diskThreshold');
    // A job from start to end.
    const job = (await client.act('POST', '/maintenance/analyse', {})).body;
    const ended = await next((e) => e.type === 'job' && e.job.id === job.id && e.job.state !== 'running');
    assert.equal(ended.job.state, 'succeeded', ended.job.message);
    assert.ok(seen.some((e) => e.type === 'job' && e.job.id === job.id && e.job.state === 'running'), 'its start was told');
    // A service's states.
    await client.act('POST', '/services/echo/restart', {});
    await next((e) => e.type === 'service' && e.name === 'echo' && e.state === 'stopping');
    await next((e) => e.type === 'service' && e.name === 'echo' && e.state === 'running');
    // A download's progress, to the session that asked for it only.
    const other = new Client(base, '127.0.0.11');
    assert.equal((await other.login(PASSWORD)).status, 200);
    const otherWs = new WebSocket(url, { headers: { origin: base, cookie: other.cookie }, localAddress: '127.0.0.11' });
    const otherSeen: any[] = [];
    otherWs.on('message', (data) => otherSeen.push(JSON.parse(String(data))));
    await new Promise((resolve) => otherWs.once('open', resolve));
    const pem = await client.call('GET', '/certificate/download?transfer=test-transfer-1');
    assert.equal(pem.status, 200);
    const told = await next((e) => e.type === 'transfer' && e.transfer === 'test-transfer-1' && e.done);
    assert.deepEqual([told.bytes, told.ok], [pem.body.length, true]);
    assert.equal((await client.call('GET', '/certificate/download?transfer=bad')).status, 200, 'a malformed token is ignored');
    // A change everybody hears, after the transfer: once the other socket has it, it had its chance at the transfer too.
    assert.equal((await client.act('PUT', '/settings/diskThreshold', { value: '86' })).status, 200);
    await until('the other session hears the change', async () => (otherSeen.some((e) => e.type === 'changed' && e.path === '/settings/diskThreshold') ? true : undefined));
    assert.equal(otherSeen.filter((e) => e.type === 'transfer').length, 0);
    otherWs.close();
    // It only sends: a client that talks is closed.
    const talker = new WebSocket(url, { headers: { origin: base, cookie: client.cookie }, localAddress: '127.0.0.11' });
    await new Promise((resolve) => talker.once('open', resolve));
    talker.send('hello?');
    assert.equal(await new Promise((resolve) => talker.once('close', resolve)), 1003);
    // Logout ends it at once.
    const closed = new Promise((resolve) => ws.once('close', resolve));
    await client.act('DELETE', '/session');
    assert.equal(await closed, 4001);
  });

  it('lets root set a forgotten password with ap ctl password, ending every session', async () => {
    const client = new Client(base, '127.0.0.10');
    assert.equal((await client.login(PASSWORD)).status, 200);
    const weak = runApSync(['ctl', 'password', '--root', root], {}, 'short\n');
    assert.equal(weak.status, 1);
    assert.match(weak.stderr, /at least 8 characters/);
    assert.equal((await client.call('GET', '/instances')).status, 200, 'a refused password changes nothing');
    const set = runApSync(['ctl', 'password', '-', '--root', root], {}, 'set-by-root-2026\n');
    assert.equal(set.status, 0, set.stderr);
    assert.equal((await client.call('GET', '/instances')).status, 401, 'every session ended');
    assert.equal((await client.login(PASSWORD)).status, 401);
    assert.equal((await client.login('set-by-root-2026')).status, 200);
    assert.equal((await client.call('GET', '/session')).body.mustChangePassword, false);
  });
});
