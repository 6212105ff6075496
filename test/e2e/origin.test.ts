// The Manager on an origin of its own (issue 14, items 3 and 12): what the
// apps' listeners and the Manager's answer, seen from outside; who may read
// /manager/metrics. (The attack itself, in a browser: test/browser/origin.test.ts.)
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { fetchRaw, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { canNamespace, serveInNamespace } from '../harness/netns';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let apps: string;
let manager: string;
let ports: { app: number; manager: number };

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
};

before(async () => {
  dir = await workspace('ap-origin-e2e-');
  root = await rootWithConfig(dir, { instances: [{ service: 'attacker', name: 'evil', domain: 'example.com', password: 'pw1' }] });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--monitor-interval', '1']);
  ports = await readyPorts(run);
  apps = `http://127.0.0.1:${ports.app}`;
  manager = `http://127.0.0.1:${ports.manager}`;
  ctl('service', 'install', await buildFixture('attacker', join(dir, 'packages')));
  await until('the instance running', async () => (ctl('instance', 'show', 'evil@example.com').state === 'running' ? true : undefined));
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe("the apps' listeners", () => {
  it('send a browser asking for the Manager UI to the Manager, same host name and scheme, the Host header checked', async () => {
    for (const path of ['/manager', '/manager/', '/manager/index.html']) {
      const answer = await fetchRaw(`${apps}${path}`);
      assert.deepEqual([answer.status, answer.headers.location], [302, `${manager}/manager/`], path);
    }
    const named = await fetchRaw(`${apps}/manager/`, { headers: { host: `box.example.com:${ports.app}` } });
    assert.equal(named.headers.location, `http://box.example.com:${ports.manager}/manager/`);
    const v6 = await fetchRaw(`${apps}/manager/`, { headers: { host: '[fd00::2]' } });
    assert.equal(v6.headers.location, `http://[fd00::2]:${ports.manager}/manager/`);
    // A Host that is not a plain host name is never echoed: the listening address instead.
    for (const host of ['evil.example/x?', 'user@evil.example', 'a b', 'evil.example:80:80', '-x.example', '']) {
      const answer = await fetchRaw(`${apps}/manager/`, { headers: { host } });
      assert.equal(answer.headers.location, `${manager}/manager/`, host);
    }
    // HTTPS to the Manager's HTTPS.
    const status = ctl('status').http;
    const ca = await readFile(join(root, 'var/run/tls/webserver.crt'), 'utf8');
    const secure = await fetchRaw(`https://127.0.0.1:${status.httpsPort}/manager/`, { ca, headers: { host: `localhost:${status.httpsPort}` } });
    assert.deepEqual([secure.status, secure.headers.location], [302, `https://localhost:${status.managerHttpsPort}/manager/`]);
  });

  it("answer the Manager's API with where it is, and never with a session", async () => {
    for (const [method, path, body] of [
      ['GET', '/manager/api/session', undefined],
      ['POST', '/manager/api/session', JSON.stringify({ password: 'pwd' })],
      ['GET', '/manager/api/instances', undefined],
      ['POST', '/manager/api/instances/evil@example.com/stop', '{}'],
    ] as const) {
      const answer = await fetchRaw(`${apps}${path}`, { method, ...(body ? { body, headers: { 'content-type': 'application/json' } } : {}) });
      assert.equal(answer.status, 421, `${method} ${path}`);
      assert.equal(answer.headers['set-cookie'], undefined);
      const error = JSON.parse(answer.body.toString()).error;
      assert.deepEqual([error.code, error.manager], ['MANAGER_ELSEWHERE', `${manager}/manager/api/`]);
    }
    assert.equal(ctl('instance', 'show', 'evil@example.com').wanted, 'running');
  });

  it("serve the instances, health, and drop an app's Set-Cookie for the Manager's session cookie", async () => {
    assert.equal((await fetchRaw(`${apps}/example.com/evil/140003/evil.html`)).status, 200);
    assert.equal((await fetchRaw(`${apps}/manager/health`)).status, 200);
    const planted = await fetchRaw(`${apps}/example.com/evil/plant-cookie`);
    assert.deepEqual([planted.status, planted.headers['set-cookie']], [200, undefined]);
  });

  it("pass each of an app's cookies as a header of its own, but never the Manager's", async () => {
    const answer = await fetchRaw(`${apps}/example.com/evil/cookies`);
    assert.deepEqual([answer.status, answer.headers['set-cookie']], [200, ['theme=dark; Path=/', 'lang=de; Path=/']]);
  });
});

describe("the Manager's listeners", () => {
  it('serve the UI, not framable, and the API', async () => {
    const ui = await fetchRaw(`${manager}/manager/`);
    assert.equal(ui.status, 200);
    assert.match(String(ui.headers['content-security-policy']), /frame-ancestors 'none'/);
    assert.equal(ui.headers['x-frame-options'], 'DENY');
    const api = await fetchRaw(`${manager}/manager/api/session`);
    assert.deepEqual([api.status, api.headers['x-frame-options']], [401, 'DENY']);
    const top = await fetchRaw(`${manager}/`);
    assert.deepEqual([top.status, top.headers.location], [301, '/manager/']);
    assert.equal((await fetchRaw(`${manager}/manager/health`)).status, 200);
  });

  it("serve nothing of an app: no instance, no web content, no WebSocket", async () => {
    for (const path of ['/example.com/evil/140003/evil.html', '/example.com/evil/plant-cookie', '/example.com/evil']) {
      assert.equal((await fetchRaw(`${manager}${path}`)).status, 404, path);
    }
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${manager.replace('http:', 'ws:')}/example.com/evil/ws`);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).once('open', () => resolve(101)).once('error', () => resolve(-1));
    });
    assert.equal(status, 404);
  });
});

describe('/manager/metrics', () => {
  it('answers the box itself on both listeners', async () => {
    await until('metrics collected', async () => ((await fetchRaw(`${apps}/manager/metrics`)).status === 200 ? true : undefined));
    for (const base of [apps, manager]) {
      const answer = await fetchRaw(`${base}/manager/metrics`);
      assert.equal(answer.status, 200);
      assert.match(answer.body.toString(), /evil@example\.com/);
    }
  });

  it('refuses bad metricsAccess and metricsToken settings, keeping the old values', () => {
    assert.notEqual(runApSync(['ctl', 'setting', 'set', 'metricsAccess', 'everyone', '--root', root]).status, 0);
    assert.notEqual(runApSync(['ctl', 'setting', 'set', 'metricsToken', 'short', '--root', root]).status, 0);
    const settings = ctl('setting', 'list').settings;
    assert.deepEqual([settings.metricsAccess.value, settings.metricsToken.value], ['local', '']);
  });
});

// Another address than loopback, without listening anywhere but on loopback:
// the supervisor runs in a network namespace of its own, with a veth pair.
describe('/manager/metrics from another address', { skip: canNamespace ? false : 'needs root for a network namespace' }, () => {
  it('is 403 unless metricsAccess opens it (token: the bearer token; open: anyone)', async () => {
    const nsRoot = await rootWithConfig(join(dir, 'ns'), {});
    const box = await serveInNamespace(nsRoot);
    const { metrics } = box;
    try {
      const set = (name: string, value: string) => assert.equal(runApSync(['ctl', 'setting', 'set', name, value, '--root', nsRoot]).status, 0);
      await until('metrics collected', async () => (metrics('127.0.0.1') === 200 ? true : undefined));
      assert.equal(metrics('10.77.0.1'), 403, 'local (the default): another address is refused');
      set('metricsAccess', 'token');
      assert.equal(metrics('10.77.0.1'), 403, 'token, but none is set');
      set('metricsToken', 'a-long-enough-token-0123456789');
      assert.equal(metrics('10.77.0.1', '-H', 'Authorization: Bearer a-long-enough-token-0123456789'), 200);
      assert.equal(metrics('10.77.0.1', '-H', 'Authorization: Bearer a-long-enough-token-0123456788'), 403);
      assert.equal(metrics('10.77.0.1'), 403);
      set('metricsAccess', 'open');
      assert.equal(metrics('10.77.0.1'), 200);
      assert.equal(metrics('127.0.0.1'), 200);
    } finally {
      await box.stop();
    }
  });
});
