// One admin surface: the admin socket serves the API's routes (its only
// command is `api`), and the routes marked local (root on the box) are there
// and nowhere else: over HTTP, with a Manager session and its CSRF token, they
// answer what a path that never existed answers, and they do nothing.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { adminRequest } from '../../src/admin';
import { ApError } from '../../src/errors';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

const PASSWORD = 'first-pass-2026';
const RESET = 'reset-by-root-2026';

let dir: string;
let root: string;
let socket: string;
let run: Run;
let base: string;

interface Answer {
  status: number;
  body: any;
}

/** A Manager session over HTTP: its cookie and CSRF token go with every call. */
class Session {
  cookie = '';
  csrf = '';

  call(method: string, path: string, body?: unknown): Promise<Answer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string | number> = { 'x-csrf-token': this.csrf, ...(this.cookie ? { cookie: this.cookie } : {}) };
    if (payload !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    return new Promise((resolve, reject) => {
      const req = request(`${base}/manager/api${path}`, { method, agent: false, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const set = res.headers['set-cookie'];
          if (set?.[0]) this.cookie = set[0].split(';')[0]!;
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') });
        });
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  async login(password: string): Promise<Answer> {
    const answer = await this.call('POST', '/session', { password });
    if (answer.status === 200) this.csrf = answer.body.csrf;
    return answer;
  }
}

/** One route over the admin socket, as `ap ctl` calls it. */
const local = (method: string, path: string, body?: unknown) => adminRequest(socket, 'api', { method, path, body }, 60_000) as Promise<Answer>;

let echoPackage: string;

before(async () => {
  dir = await workspace('ap-local-');
  root = await rootWithConfig(dir, {});
  socket = join(root, 'var/run/ap.sock');
  echoPackage = await buildFixture('echo', join(dir, 'packages'));
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
  assert.equal(runApSync(['ctl', 'password', PASSWORD, '--root', root]).status, 0);
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('local routes', () => {
  it('are not there over HTTP, even with a session and its CSRF token: the answer of a path that never existed, and nothing done', async () => {
    const session = new Session();
    assert.equal((await session.login(PASSWORD)).status, 200);
    const routes: [string, string, unknown][] = [
      ['POST', '/password/reset', { password: RESET }],
      ['POST', '/debug/gc', {}],
      ['POST', '/services/install', { dir: echoPackage, wait: false }],
    ];
    for (const [method, path, body] of routes) {
      const answer = await session.call(method, path, body);
      // The same request to a path that was never a route, for comparison.
      const never = await session.call(method, `${path}-never`, body);
      assert.equal(answer.status, never.status, `${method} ${path}`);
      assert.deepEqual(answer.body, { error: { ...never.body.error, message: never.body.error.message.replace(`${path}-never`, path) } }, `${method} ${path}`);
    }
    // The two that are alone on their path are plain 404s; POST /services/install gets what POST /services/<anything> gets.
    assert.deepEqual((await session.call('POST', '/password/reset', { password: RESET })).body, { error: { code: 'NOT_FOUND', message: 'no API resource /password/reset' } });
    assert.equal((await session.call('POST', '/debug/gc')).status, 404);
    assert.equal((await session.call('POST', '/services/install', { dir: echoPackage })).body.error.code, 'METHOD_NOT_ALLOWED');
    // Nothing happened: the password is the old one, the session lives, nothing was installed.
    assert.equal((await session.call('GET', '/session')).status, 200);
    assert.equal((await new Session().login(RESET)).status, 401);
    assert.deepEqual((await session.call('GET', '/services')).body, { services: [] });
    // And the HTTP API's document does not offer them.
    const doc = (await session.call('GET', '/openapi.json')).body;
    assert.equal(doc.paths['/password/reset'], undefined);
    assert.equal(doc.paths['/debug/gc'], undefined);
    assert.equal(doc.paths['/services/install'], undefined);
    assert.ok(doc.paths['/services/upload'].post, 'the HTTP install is documented');
  });

  it('work over the admin socket', async () => {
    const session = new Session();
    assert.equal((await session.login(PASSWORD)).status, 200);

    const installed = await local('POST', '/services/install', { dir: echoPackage });
    assert.equal(installed.status, 200, JSON.stringify(installed.body));
    assert.equal(installed.body.name, 'echo');
    assert.equal((await local('GET', '/services/echo')).body.state, 'running');
    // Bad input: a clear error naming the field, and nothing installed.
    const relative = await local('POST', '/services/install', { dir: 'packages/echo' });
    assert.deepEqual([relative.status, relative.body.error.code, relative.body.error.field], [400, 'INVALID_FIELD', 'dir']);

    // Started without --expose-gc: the route is there and says what it needs.
    const gc = await local('POST', '/debug/gc');
    assert.deepEqual([gc.status, gc.body.error.code], [500, 'GC_UNAVAILABLE']);

    const weak = await local('POST', '/password/reset', { password: 'short' });
    assert.deepEqual([weak.status, weak.body.error.field], [400, 'password']);
    assert.deepEqual(await local('POST', '/password/reset', { password: RESET }), { status: 200, body: { set: true } });
    assert.equal((await session.call('GET', '/session')).status, 401, 'every session ended');
    assert.equal((await new Session().login(PASSWORD)).status, 401);
    assert.equal((await new Session().login(RESET)).status, 200);
  });

  it('are reached through "api" only: a command the socket once had is refused, naming its route', async () => {
    const moved: [string, RegExp][] = [
      ['status', /"method":"GET","path":"\/status"/],
      ['service.list', /"method":"GET","path":"\/services"/],
      ['service.install', /"method":"POST","path":"\/services\/install","body"/],
      ['manager.password', /"method":"POST","path":"\/password\/reset","body"/],
      ['debug.gc', /"method":"POST","path":"\/debug\/gc"/],
    ];
    for (const [verb, route] of moved) {
      await assert.rejects(adminRequest(socket, verb, { password: 'would-be-set-2026', dir: echoPackage }), (err: unknown) => {
        assert.ok(err instanceof ApError);
        assert.equal(err.code, 'UNKNOWN_COMMAND');
        assert.match(err.message, /serves only "api"/);
        assert.match(err.message, route);
        return true;
      });
    }
    await assert.rejects(adminRequest(socket, 'reboot'), /unknown command "reboot" \(known: api\)/);
    // The old manager.password did nothing.
    assert.equal((await new Session().login('would-be-set-2026')).status, 401);
  });
});
