// The PBX login, connections that outlive their service, and the vendor's
// AppWebsocket extras, against the bundled supervisor.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createConnection } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { fetchRaw, until } from '../harness/http';
import { buildFixture, ensureStopped, REPO, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { connect, type Client } from '../harness/ws';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const PASSWORD = 'sêcret:1';

let dir: string;
let root: string;
let run: Run;
let port: number;

const ctl = (...args: string[]) => JSON.parse(runApSync(['ctl', ...args, '--json', '--root', root]).stdout);
const state = () => ctl('service', 'list').find((s: { name: string }) => s.name === 'pbxecho') as { state: string; pid: number };
const opens = async () => JSON.parse((await fetchRaw(`http://127.0.0.1:${port}/example.com/pbx1/opens`)).body.toString()).opens as number;

before(async () => {
  dir = await workspace('ap-login-');
  root = await rootWithConfig(dir, {
    // The outage must outlast a poll of `ap ctl` (a node process each), also on a loaded machine.
    services: { restartDelayMs: 4000 },
    ws: { holdSize: '16K' },
    instances: [
      { service: 'pbxecho', name: 'pbx1', domain: 'example.com', password: PASSWORD },
      { service: 'pbxecho', name: 'pbx2', domain: 'example.com', password: 'other', traceFlags: ['App', 'Database', 'Webserver'] },
    ],
  });
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  port = (await readyPorts(run)).app;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('pbxecho', join(dir, 'packages')), '--root', root]).status, 0);
  await until('pbxecho running', async () => (state()?.state === 'running' ? true : undefined));
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

const url = (instance = 'pbx1') => `ws://127.0.0.1:${port}/example.com/${instance}/websocket`;

/** Challenge, then AppLogin with the digest of DESIGN.md. */
async function login(client: Client, fields: Record<string, unknown>, password = PASSWORD): Promise<{ result: Record<string, unknown>; challenge: string }> {
  client.sendJson({ mt: 'AppChallenge' });
  const challenge = (await client.nextJson()) as { mt: string; challenge: string };
  assert.equal(challenge.mt, 'AppChallengeResult');
  const f = { app: '', domain: '', sip: '', guid: '', dn: '', ...fields } as Record<string, string>;
  const parts = [f.app, f.domain, f.sip, f.guid, f.dn, ...('info' in fields ? [JSON.stringify(fields.info)] : []), challenge.challenge, password];
  client.sendJson({ mt: 'AppLogin', ...fields, digest: sha(parts.join(':')) });
  return { result: await client.nextJson(), challenge: challenge.challenge };
}

describe('PBX login', () => {
  it('logs in with info (values with ":" and non-ASCII), and the service gets the identity and session key', async () => {
    const client = await connect(url());
    const fields = { app: 'pbxecho', domain: 'exämple.com', sip: 'user:1', guid: 'g-1', dn: 'Ünïcode Dn', info: { appobj: 'x:y', testing: 'ü€' } };
    const { result, challenge } = await login(client, fields);
    assert.deepEqual(result, { mt: 'AppLoginResult', app: 'pbxecho', domain: 'example.com', ok: true });
    const hello = await client.nextJson();
    assert.equal(hello.hello, 'pbx1@example.com');
    assert.deepEqual(hello.identity, fields);
    assert.equal(hello.sessionKey, sha(`innovaphoneAppSessionKey:${challenge}:${PASSWORD}`));
    client.ws.send('ping');
    assert.equal(await client.next(), 'ping');
    client.ws.close();
  });

  it('logs in without info (the password login of admin UIs and scripts)', async () => {
    const client = await connect(url());
    const { result } = await login(client, { app: 'admin' });
    assert.equal(result.ok, true);
    assert.equal((await client.nextJson()).hello, 'pbx1@example.com');
    client.ws.close();
  });

  it('refuses a wrong digest, a reused challenge, another instance password and talk before login, and nothing reaches the service', async () => {
    const before = await opens();
    const wrong = await connect(url());
    assert.equal((await login(wrong, { app: 'a' }, 'guess')).result.ok, false);
    // The challenge was used up: the right digest for it fails now.
    const f = { app: 'a' };
    const first = await connect(url());
    const { challenge } = await login(first, f, 'guess');
    first.sendJson({ mt: 'AppLogin', ...f, digest: sha(['a', '', '', '', '', challenge, PASSWORD].join(':')) });
    assert.equal((await first.nextJson()).ok, false);
    // pbx1's password does not open pbx2.
    const other = await connect(url('pbx2'));
    assert.equal((await login(other, { app: 'a' })).result.ok, false);
    // Talking before login closes the connection.
    const rude = await connect(url());
    rude.ws.send('hello?');
    assert.deepEqual(await rude.closed, [1008, 'log in first']);
    assert.equal(await opens(), before, 'no connection reached the service');
    for (const c of [wrong, first, other]) c.ws.close();
  });

  it('throttles an address after repeated failures while another address logs in fine', async () => {
    const attacker = await connect(url(), { localAddress: '127.0.0.2' });
    for (let i = 0; i < 5; i++) assert.equal((await login(attacker, { app: 'x' }, `guess${i}`)).result.ok, false);
    assert.equal((await login(attacker, { app: 'x' })).result.ok, false, 'locked out: even the right password fails');
    const friend = await connect(url(), { localAddress: '127.0.0.3' });
    assert.equal((await login(friend, { app: 'x' })).result.ok, true);
    attacker.ws.close();
    friend.ws.close();
  });

  it('answers CheckBuild with the running build and AppInfo, itself', async () => {
    const client = await connect(url());
    await login(client, { app: 'x' });
    await client.nextJson(); // hello
    client.sendJson({ mt: 'CheckBuild', url: `http://127.0.0.1:${port}/example.com/pbx1/100001/app.htm?x=1`, src: 'c1' });
    assert.deepEqual(await client.nextJson(), { mt: 'CheckBuildResult', url: `http://127.0.0.1:${port}/example.com/pbx1/130004/app.htm?x=1`, src: 'c1' });
    client.sendJson({ mt: 'AppInfo', app: 'pbxecho' });
    assert.deepEqual(await client.nextJson(), { mt: 'AppInfoResult', app: 'pbxecho', build: '130004' });
    client.ws.close();
  });
});

describe('connections that outlive their service', () => {
  it('keeps logged-in WebSockets open across a kill -9 of the service, re-opens them, and traffic resumes', async () => {
    const client = await connect(url());
    await login(client, { app: 'survivor', sip: 's1' });
    const first = await client.nextJson();
    process.kill(state().pid, 'SIGKILL');
    await until('the service to be away', async () => (state().state === 'backing-off' ? true : undefined));
    // HTTP requests meanwhile wait for the new process, their bodies held (up to 1 MiB each): one beyond is told to come back.
    const body = Buffer.alloc(300 * 1024, 0x61);
    const waiting = fetchRaw(`http://127.0.0.1:${port}/example.com/pbx1/echo`, { method: 'POST', body });
    // (Its head alone: the answer comes before a byte of the body is read.)
    const tooBig = await new Promise<string>((resolve, reject) => {
      const socket = createConnection(port, '127.0.0.1', () => socket.write(`POST /example.com/pbx1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * 1024 + 1}\r\n\r\n`));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(tooBig, /^HTTP\/1\.1 503 [^\r]*\r\n(.*\r\n)*Retry-After: 1\r\n/i);
    assert.match(tooBig, /the service of pbx1@example\.com is restarting\n$/);
    client.ws.send('sent during the outage');
    const again = await client.nextJson(); // the new process greets the same connection
    assert.notEqual(again.pid, first.pid);
    assert.deepEqual(again.identity, first.identity);
    assert.equal(await client.next(), 'sent during the outage');
    client.ws.send('and after');
    assert.equal(await client.next(), 'and after');
    const answered = await waiting;
    assert.equal(answered.status, 200);
    assert.ok(answered.body.equals(body), 'the held body reached the new process whole');
    client.ws.close();
  });

  it('closes with 1013 a client that sends more than the hold cap during the outage', async () => {
    await until('pbxecho running', async () => (state()?.state === 'running' ? true : undefined));
    const client = await connect(url());
    await login(client, { app: 'talker' });
    await client.nextJson();
    process.kill(state().pid, 'SIGKILL');
    await until('the service to be away', async () => (state().state === 'backing-off' ? true : undefined));
    for (let i = 0; i < 4; i++) client.ws.send(Buffer.alloc(8 * 1024));
    assert.deepEqual(await client.closed, [1013, 'try again later']);
  });
  it('keeps logged-in WebSockets open across a restart and an update of the service, re-opened in the new process; a stop closes them with 1013', async () => {
    await until('pbxecho running', async () => (state()?.state === 'running' ? true : undefined));
    const client = await connect(url());
    await login(client, { app: 'steady', sip: 's2' });
    const first = await client.nextJson();
    const ctlAsync = async (...args: string[]) => {
      const r = runAp(['ctl', ...args, '--root', root]);
      const [code] = await r.exited;
      assert.equal(code, 0, `ap ctl ${args.join(' ')}: ${r.output.text}`);
    };
    const greetings = [first];
    for (const [what, args] of [
      ['restart', ['service', 'restart', 'pbxecho']],
      ['update', ['service', 'install', await buildFixture('pbxecho', join(dir, 'packages-again'))]],
    ] as const) {
      await ctlAsync(...args);
      const again = await client.nextJson(); // the new process greets the same connection
      assert.notEqual(again.pid, greetings.at(-1)!.pid, `${what}: a new process`);
      assert.deepEqual(again.identity, first.identity, `${what}: the same login`);
      greetings.push(again);
      client.ws.send(`after the ${what}`);
      assert.equal(await client.next(), `after the ${what}`);
    }
    // Only a stop ends them; HTTP is not asked to come back.
    await ctlAsync('service', 'stop', 'pbxecho');
    assert.deepEqual(await client.closed, [1013, 'service unavailable']);
    const stopped = await fetchRaw(`http://127.0.0.1:${port}/example.com/pbx1/hello`);
    assert.deepEqual([stopped.status, stopped.headers['retry-after'], stopped.body.toString()], [503, undefined, 'the service of pbx1@example.com is not running\n']);
    await ctlAsync('service', 'start', 'pbxecho');
    await until('pbxecho running', async () => (state()?.state === 'running' ? true : undefined));
  });
  it('loses no message across a restart and an update under traffic: the old process answers what it was sent, the new one the rest, in order', async () => {
    await until('pbxecho running', async () => (state()?.state === 'running' ? true : undefined));
    const client = await connect(url());
    await login(client, { app: 'busy', sip: 's3' });
    let pid = (await client.nextJson()).pid;
    let closedEarly: [number, string] | null = null;
    void client.closed.then((c) => (closedEarly = c));
    for (const [what, args] of [
      ['restart', ['service', 'restart', 'pbxecho', '--root', root]],
      ['update', ['service', 'install', await buildFixture('pbxecho', join(dir, 'packages-busy')), '--root', root]],
    ] as const) {
      // An answer the old process is still working on when it is asked to stop (the SDK waits for the handler's promise).
      client.ws.send(`later 1500 slow ${what}`);
      let sent = 0;
      const sender = setInterval(() => client.ws.send(`${what} ${sent++}`), 5);
      const r = runAp(['ctl', ...args]);
      const [code] = await r.exited;
      assert.equal(code, 0, `ap ctl ${args.join(' ')}: ${r.output.text}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      clearInterval(sender);
      const echoed: number[] = [];
      let slow = false;
      let greeted = false;
      while (echoed.length < sent) {
        // A lost message would leave this waiting: 10 s of silence ends the wait, and the comparison below says what is missing.
        const next = await Promise.race([client.next(), new Promise<null>((resolve) => setTimeout(resolve, 10_000, null))]);
        if (next === null) break;
        const message = String(next);
        if (message === `slow ${what}`) slow = !greeted; // only the old process was sent it
        else if (message.startsWith('{')) {
          const hello = JSON.parse(message) as { pid: number };
          assert.notEqual(hello.pid, pid, `${what}: the greeting of a new process`);
          pid = hello.pid;
          greeted = true;
        } else echoed.push(Number(message.slice(what.length + 1)));
      }
      assert.deepEqual(echoed, [...Array(sent).keys()], `${what}: every message echoed once, in order`);
      assert.ok(sent > 20, `${what}: traffic during the whole act (${sent} messages)`);
      assert.ok(slow, `${what}: the old process's answer in progress arrived`);
      assert.ok(greeted, `${what}: the new process opened the connection again`);
    }
    assert.equal(closedEarly, null, 'the socket stayed open');
    client.ws.close();
  });
});

describe('instances', () => {
  it("reach the service with the vendor's trace-flag bitmask", async () => {
    await until('pbxecho running', async () => (state()?.state === 'running' ? true : undefined));
    const count = JSON.parse((await fetchRaw(`http://127.0.0.1:${port}/example.com/pbx1/count`)).body.toString());
    assert.deepEqual(count.traceFlags, { 'pbx1@example.com': 0x8001, 'pbx2@example.com': 0x200000003 });
  });
});

describe("the app's static web content", () => {
  const base = () => `http://127.0.0.1:${port}/example.com/pbx1`;

  it('serves files under the build path with a type and an ETag, and 304 for a known ETag', async () => {
    const first = await fetchRaw(`${base()}/130004/app.htm`);
    assert.equal(first.status, 200);
    assert.equal(first.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(first.body.toString(), await readFile(join(REPO, 'test/fixtures/pbxecho/web/app.htm'), 'utf8'));
    const etag = first.headers.etag!;
    assert.match(etag, /^"130004-/);
    const second = await fetchRaw(`${base()}/130004/app.htm`, { headers: { 'if-none-match': etag } });
    assert.equal(second.status, 304);
    assert.equal(second.body.length, 0);
  });

  it('compresses text for clients that take gzip', async () => {
    const css = await readFile(join(REPO, 'test/fixtures/pbxecho/web/app.css'));
    const zipped = await fetchRaw(`${base()}/130004/app.css`, { headers: { 'accept-encoding': 'gzip, deflate' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(zipped.body.length < css.length);
    assert.ok(gunzipSync(zipped.body).equals(css));
    const plain = await fetchRaw(`${base()}/130004/app.css`);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.ok(plain.body.equals(css));
  });

  it('redirects the path without the build, 404s unknown files, and leaves other paths to the app', async () => {
    const redirect = await fetchRaw(`${base()}/app.js?v=1`);
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, '/example.com/pbx1/130004/app.js?v=1');
    assert.equal((await fetchRaw(`${base()}/130004/missing.js`)).status, 404);
    await until('pbxecho running', async () => (state()?.state === 'running' ? true : undefined));
    const app = await fetchRaw(`${base()}/hello`);
    assert.match(app.body.toString(), /^hello from pbx1@example.com/);
  });
});
