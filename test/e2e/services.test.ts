// The bundled supervisor with the example service: routing, streaming, TLS,
// timeouts, WebSockets, and supervision of services that misbehave.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createCertificate } from '../../src/tls';
import { cpuMs, fetchRaw, rssKb, streamedEcho, until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let http: string;
let httpsPort: number;
let managerHttpsPort: number;
let pid: number;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
};

/** A service folder with just an app.json whose entry is `node -e <code>`. */
async function inlineService(name: string, code: string): Promise<string> {
  const folder = join(dir, 'packages', name);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'app.json'), JSON.stringify({ name, version: '0.0.1', entry: ['node', '-e', code] }));
  return folder;
}

before(async () => {
  dir = await workspace('ap-svc-');
  root = await rootWithConfig(dir, {
    http: { requestTimeout: 2 },
    services: { restartDelayMs: 100, restartLimit: 4, restartWindow: 60 },
    instances: [
      { service: 'echo', name: 'echo1', domain: 'example.com', password: 'pw1' },
      { service: 'echo', name: 'sub', domain: 'example.com', path: '/example.com/echo1/sub', password: 'pw2' },
      { service: 'echo', name: 'small', domain: 'example.com', password: 'pw3', maxBodySize: '1K' },
    ],
  });
  // With a gateway's young generation (as S92manager runs it on an IPx10), chunk garbage dies young:
  // the memory bound below then measures what is held, not how far a loaded machine let garbage pile up.
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0'], { NODE_OPTIONS: '--max-semi-space-size=1' });
  http = `http://127.0.0.1:${(await readyPorts(run)).app}`;
  pid = run.child.pid!;
  ({ httpsPort, managerHttpsPort } = ctl('status').http);
  const installed = ctl('service', 'install', await buildFixture('echo', join(dir, 'packages')));
  assert.equal(installed.name, 'echo');
  await until('echo running', async () => (ctl('service', 'list').find((s: { name: string; state: string }) => s.name === 'echo' && s.state === 'running') ? true : undefined));
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('routing and HTTP through the channel', () => {
  it('routes by path prefix, longest first, case-sensitive, on whole segments', async () => {
    const hello = await fetchRaw(`${http}/example.com/echo1/hello?x=1`);
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'hello from echo1@example.com (GET /example.com/echo1/hello?x=1)');
    assert.equal(hello.headers['x-instance'], 'echo1@example.com');
    assert.equal((await fetchRaw(`${http}/example.com/echo1/sub/hello`)).headers['x-instance'], 'sub@example.com');
    assert.equal((await fetchRaw(`${http}/example.com/echo1/subway/hello`)).headers['x-instance'], 'echo1@example.com');
    for (const path of ['/Example.com/echo1/hello', '/example.com/echo10/hello', '/example.com', '/nothing']) {
      assert.equal((await fetchRaw(`${http}${path}`)).status, 404, path);
    }
    assert.equal((await fetchRaw(`${http}/manager/health`)).status, 200);
  });

  it('passes every method uWS parses to the app, with its name', async () => {
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const answer = await fetchRaw(`${http}/example.com/echo1/hello`, { method, body: method === 'GET' ? undefined : '' });
      assert.equal(answer.status, 200, method);
      assert.match(answer.body.toString(), new RegExp(`\\(${method} /example.com/echo1/hello\\)`), method);
    }
    assert.equal((await fetchRaw(`${http}/example.com/echo1/hello`, { method: 'HEAD' })).status, 200);
  });

  // Blocked: the pinned uWebSockets.js 20.30 closes the connection for methods
  // outside its own list before any route runs (README, Known limitations).
  // Runs on every test run and is reported as todo; it fails loudly the day a
  // uWS build passes them, and then should become a plain test.
  it('passes WebDAV methods (PROPFIND, MKCOL, …) to the app', { todo: 'uWS 20.30 closes unknown methods in its router' }, async () => {
    for (const method of ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK']) {
      const answer = await fetchRaw(`${http}/example.com/echo1/hello`, { method, body: '' });
      assert.equal(answer.status, 200, method);
      assert.match(answer.body.toString(), new RegExp(`\\(${method} `), method);
    }
  });

  it('streams a 50 MB POST to the service and back intact', async () => {
    const size = 50 * 1024 * 1024;
    const result = await streamedEcho(`${http}/example.com/echo1/echo`, size);
    assert.equal(result.status, 200);
    assert.equal(result.receivedBytes, size);
    assert.equal(result.received, result.sent);
  });

  it('does not hold a 120 MB body in the supervisor while it streams through', async () => {
    const size = 120 * 1024 * 1024;
    const before = await rssKb(pid);
    let peak = before;
    const sampler = setInterval(() => void rssKb(pid).then((kb) => (peak = Math.max(peak, kb)), () => {}), 10);
    const result = await streamedEcho(`${http}/example.com/echo1/echo`, size).finally(() => clearInterval(sampler));
    assert.equal(result.received, result.sent);
    const growthMb = (peak - before) / 1024;
    console.log(`# 120 MB echo: supervisor RSS ${Math.round(before / 1024)} MB before, peak +${growthMb.toFixed(1)} MB`);
    // Holding the body would cost at least 120 MB. What shows is chunk garbage
    // awaiting collection; with the small young generation it stays around 5-15 MB.
    assert.ok(growthMb < 100, `supervisor memory grew by ${growthMb.toFixed(1)} MB while streaming 120 MB`);
  });

  it('streams a large response with Content-Length under client backpressure', async () => {
    const size = 20 * 1024 * 1024;
    const answer = await fetchRaw(`${http}/example.com/echo1/download?size=${size}`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-length'], String(size));
    assert.equal(answer.body.length, size);
    assert.equal(createHash('sha256').update(answer.body).digest('hex'), createHash('sha256').update(Buffer.alloc(size, 0x61)).digest('hex'));
  });

  it('refuses request heads over the header limit with 431', async () => {
    const big = { 'x-big': 'a'.repeat(20 * 1024) };
    assert.equal((await fetchRaw(`${http}/example.com/echo1/hello`, { headers: big })).status, 431);
    assert.equal((await fetchRaw(`${http}/example.com/echo1/hello`, { headers: { 'x-small': 'a'.repeat(1000) } })).status, 200);
  });

  it('enforces the per-route body limit with 413', async () => {
    assert.equal((await fetchRaw(`${http}/example.com/small/echo`, { method: 'POST', body: Buffer.alloc(2048) })).status, 413);
    assert.equal((await fetchRaw(`${http}/example.com/small/echo`, { method: 'POST', body: 'fine' })).body.toString(), 'fine');
  });

  it('tells the service when the client aborts mid-body', async () => {
    const before = JSON.parse((await fetchRaw(`${http}/example.com/echo1/aborts`)).body.toString()).aborts as number;
    await new Promise<void>((resolve) => {
      const req = request(`${http}/example.com/echo1/slow-upload`, { method: 'POST', headers: { 'content-length': String(10 * 1024 * 1024) }, agent: false });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(256 * 1024), () => {
        req.destroy();
        resolve();
      });
    });
    await until('the abort to reach the service', async () => {
      const { aborts } = JSON.parse((await fetchRaw(`${http}/example.com/echo1/aborts`)).body.toString());
      return aborts > before ? true : undefined;
    });
  });

  it('answers 504 when the service hangs past the request timeout', async () => {
    const started = Date.now();
    const answer = await fetchRaw(`${http}/example.com/echo1/hang`);
    assert.equal(answer.status, 504);
    assert.ok(Date.now() - started >= 1900, 'not before the timeout');
    assert.equal((await fetchRaw(`${http}/example.com/echo1/hello`)).status, 200, 'the service is fine afterwards');
  });
});

describe('HTTPS', () => {
  it('serves the self-signed certificate made at first start', async () => {
    const cert = await readFile(join(root, 'var/run/tls/webserver.crt'), 'utf8');
    const answer = await fetchRaw(`https://127.0.0.1:${httpsPort}/example.com/echo1/hello`, { ca: cert });
    assert.equal(answer.status, 200);
    await assert.rejects(fetchRaw(`https://127.0.0.1:${httpsPort}/manager/health`), /self-signed|self signed/);
    // The Manager's own HTTPS listener serves the same certificate.
    assert.equal((await fetchRaw(`https://127.0.0.1:${managerHttpsPort}/manager/health`, { ca: cert })).status, 200);
  });

  it('switches to an uploaded chain from a test CA, and rejects a bad one', async () => {
    const ca = createCertificate({ commonName: 'Test Root CA', days: 30, isCA: true });
    const leaf = createCertificate({ commonName: 'box.example.com', altNames: { dns: ['box.example.com', 'localhost'] }, days: 30, issuer: ca });
    const file = join(dir, 'chain.pem');
    await writeFile(file, leaf.certPem + ca.certPem + leaf.keyPem);
    const installed = ctl('cert', 'install', file);
    assert.match(installed.subject, /box\.example\.com/);
    const answer = await fetchRaw(`https://127.0.0.1:${httpsPort}/example.com/echo1/hello`, { ca: ca.certPem, servername: 'box.example.com' });
    assert.equal(answer.status, 200);
    // The Manager's HTTPS listener took the new chain too.
    assert.equal((await fetchRaw(`https://127.0.0.1:${managerHttpsPort}/manager/health`, { ca: ca.certPem, servername: 'box.example.com' })).status, 200);
    const shown = ctl('cert', 'show');
    assert.deepEqual([shown.custom, /box\.example\.com/.test(shown.subject), /Test Root CA/.test(shown.issuer)], [true, true, true]);

    await writeFile(file, leaf.certPem + ca.certPem); // no key
    const bad = runApSync(['ctl', 'cert', 'install', file, '--root', root]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /key/i);
    const still = await fetchRaw(`https://127.0.0.1:${httpsPort}/example.com/echo1/hello`, { ca: ca.certPem, servername: 'box.example.com' });
    assert.equal(still.status, 200, 'the good chain stays in use');
  });
});

describe('WebSockets through the channel', () => {
  it('echoes text and a 1 MB binary message', async () => {
    const ws = new WebSocket(`${http.replace('http', 'ws')}/example.com/echo1/ws`);
    const messages: (string | Buffer)[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      messages.push(isBinary ? data : data.toString());
      waiters.splice(0).forEach((w) => w());
    });
    const next = async () => {
      while (messages.length === 0) await new Promise<void>((r) => waiters.push(r));
      return messages.shift()!;
    };
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const hello = JSON.parse((await next()) as string);
    assert.deepEqual([hello.hello, hello.url, hello.identity], ['echo1@example.com', '/example.com/echo1/ws', undefined]);
    ws.send('ping text');
    assert.equal(await next(), 'ping text');
    const big = createHash('sha512').update('seed').digest();
    const payload = Buffer.concat(Array.from({ length: (1024 * 1024) / big.length }, () => big));
    ws.send(payload);
    const echoed = (await next()) as Buffer;
    assert.ok(Buffer.isBuffer(echoed));
    assert.equal(echoed.length, 1024 * 1024);
    assert.ok(echoed.equals(payload));
    ws.send('close');
    const [code, reason] = await new Promise<[number, string]>((resolve) => ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])));
    assert.deepEqual([code, reason], [4001, 'asked to close']);
  });

  it("passes a service's close with a reason longer than a close frame holds, cut between characters", async () => {
    const ws = new WebSocket(`${http.replace('http', 'ws')}/example.com/echo1/ws`);
    // Listened for before the open: the hello may come in the same packet as the upgrade's answer, told at once after 'open'.
    const hello = new Promise((resolve) => ws.once('message', resolve));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    await hello;
    ws.send('close at length');
    const [code, reason] = await new Promise<[number, string]>((resolve) => ws.once('close', (c: number, r: Buffer) => resolve([c, r.toString()])));
    assert.deepEqual([code, reason], [4002, 'é'.repeat(61)]);
  });

  it('closes a client with 1013 when the service does not take its messages within the budget', async () => {
    const ws = new WebSocket(`${http.replace('http', 'ws')}/example.com/echo1/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const paused = new Promise<void>((resolve) => ws.on('message', (m: Buffer) => String(m) === 'paused' && resolve()));
    ws.send('pause');
    // Sent before the pause reached the supervisor, the chunks would be taken (and echoed): no 1013, a wait without end.
    await paused;
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < 40 && ws.readyState === WebSocket.OPEN; i++) ws.send(chunk); // 2.5 MB against a 1 MB budget
    assert.equal(await closed, 1013);
  });

  it('paces a fast service to a slow client without piling the data up in the supervisor', async () => {
    const size = 40 * 1024 * 1024;
    const ws = new WebSocket(`${http.replace('http', 'ws')}/example.com/echo1/ws`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
    let received = 0;
    const done = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) received += data.length;
        else if (data.toString() === 'flood done') resolve();
      }),
    );
    const before = await rssKb(pid);
    socket.pause(); // a client that reads nothing for a while
    const heldBefore = JSON.parse((await fetchRaw(`${http}/example.com/echo1/opens`)).body.toString()).held as number;
    ws.send(`flood ${size}`);
    await until('the service to be told to wait', async () => {
      const { held } = JSON.parse((await fetchRaw(`${http}/example.com/echo1/opens`)).body.toString());
      return held > heldBefore ? true : undefined;
    });
    const held = (await rssKb(pid)) - before;
    socket.resume();
    await done;
    ws.close();
    assert.equal(received, size);
    console.log(`# WebSocket flood to a stalled client: supervisor RSS +${(held / 1024).toFixed(1)} MB while stalled`);
    assert.ok(held < 16 * 1024, `the supervisor held ${(held / 1024).toFixed(1)} MB for a stalled client`);
    assert.equal(ctl('service', 'list').find((s: { name: string }) => s.name === 'echo').state, 'running', 'the service was paced, not cut off');
  });

  it('refuses a WebSocket to an unknown path', async () => {
    const ws = new WebSocket(`${http.replace('http', 'ws')}/nowhere`);
    const status = await new Promise<number>((resolve) => ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)).once('error', () => resolve(-1)));
    assert.equal(status, 404);
  });
});

describe('supervision', () => {
  it('backs off a service that exits at once, then marks it failed, at almost no CPU', async () => {
    const cpuBefore = await cpuMs(pid);
    const started = Date.now();
    ctl('service', 'install', await inlineService('crasher', "console.log('crasher: giving up'); process.exit(3)"), '--no-wait');
    const failed = await until('crasher to fail', async () => {
      const s = ctl('service', 'list').find((x: { name: string }) => x.name === 'crasher');
      return s?.state === 'failed' ? s : undefined;
    });
    const cpu = (await cpuMs(pid)) - cpuBefore;
    const elapsed = Date.now() - started;
    console.log(`# crash loop: 4 deaths in ${elapsed} ms cost the supervisor ${cpu} ms of CPU`);
    assert.match(failed.reason, /died 4 times/);
    assert.ok(elapsed >= 100 + 200 + 400, 'restarts were spaced by the backoff');
    assert.ok(cpu < 1500, `supervisor used ${cpu} ms of CPU for a crash loop`);
    // The crash record of the last death is written as the state changes: wait for it.
    const records = await until('4 crash records', async () => {
      const files = await readdir(join(root, 'mnt/sda2/log/core_dumps/crasher')).catch(() => []);
      return files.length >= 4 ? files : undefined;
    });
    assert.equal(records.length, 4);
    const record = JSON.parse(await readFile(join(root, 'mnt/sda2/log/core_dumps/crasher', records[0]!), 'utf8'));
    assert.equal(record.exitCode, 3);
    // The Manager and `ap ctl service show` give the newest record first, with its last lines.
    const shown = ctl('service', 'show', 'crasher');
    assert.equal(shown.state, 'failed');
    assert.equal(shown.crashes.length, 4);
    assert.equal(shown.crashes[0].exitCode, 3);
    assert.ok(shown.crashes[0].time >= shown.crashes[3].time);
    assert.ok(shown.crashes[0].lastLines.some((l: string) => l.endsWith(' crasher: giving up')), JSON.stringify(shown.crashes[0].lastLines));
    const text = runApSync(['ctl', 'service', 'show', 'crasher', '--root', root]).stdout;
    assert.match(text, /last crash: .*exit code 3/);
    assert.match(text, /died 4 times/);
    // Its log, as the Manager's log view reads it: the end, from a whole line.
    const log = ctl('service', 'log', 'crasher');
    const lines: string[] = log.text.trimEnd().split('\n');
    assert.equal(lines.filter((l) => l.includes('crasher: giving up')).length, 4);
    // Every line with its time; each run between a start and an exit mark.
    assert.deepEqual(lines.filter((l) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /.test(l)), []);
    assert.equal(lines.filter((l) => / ==== start: crasher \S+ \(build \S+\), pid \d+ ====$/.test(l)).length, 4, log.text);
    assert.equal(lines.filter((l) => / ==== exit: code 3 after [\d.]+ s ====$/.test(l)).length, 4, log.text);
    const tail = ctl('service', 'log', 'crasher', '--bytes', '30');
    assert.equal(tail.truncated, true);
    assert.ok(tail.text.length <= 30 && !tail.text.startsWith('iving'), JSON.stringify(tail.text));
    const bad = runApSync(['ctl', 'service', 'log', 'crasher', '--bytes', '0', '--root', root]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /bytes/);
    // A crash loop is an alarm.
    const alarm = (ctl('alarms').active as { source: string; code: string; severity: string; text: string }[]).find((a) => a.source === 'service:crasher');
    assert.deepEqual([alarm?.code, alarm?.severity], ['CRASH_LOOP', 'major']);
    assert.match(alarm!.text, /died 4 times/);
    // Failed stays failed until started by hand.
    assert.equal(ctl('service', 'start', 'crasher').state, 'starting');
  });

  it('cuts off a service that writes garbage on its channel, restarts it, and stays well', async () => {
    const code = "require('fs').writeSync(3, Buffer.from([0,0,0,9,0x7f,0,0,0,1,1,2,3,4])); setInterval(() => {}, 1000)";
    ctl('service', 'install', await inlineService('garbage', code), '--no-wait');
    const record = await until('a crash record for garbage', async () => {
      const folder = join(root, 'mnt/sda2/log/core_dumps/garbage');
      // Not a record's <name>.new while it is being written.
      const files = (await readdir(folder).catch(() => [])).filter((f) => f.endsWith('.json'));
      return files.length > 0 ? JSON.parse(await readFile(join(folder, files[0]!), 'utf8')) : undefined;
    });
    assert.match(record.cutOff, /unknown frame kind 0x7f/);
    ctl('service', 'stop', 'garbage');
    assert.equal((await fetchRaw(`${http}/manager/health`)).status, 200);
    assert.equal((await fetchRaw(`${http}/example.com/echo1/hello`)).status, 200);
  });

  it('appends service output to its log, capped with one rotated copy', async () => {
    const code = "for (let i = 0; i < 40000; i++) console.log('line ' + i + ' ' + 'x'.repeat(60)); setInterval(() => {}, 1000)";
    ctl('service', 'install', await inlineService('chatty', code), '--no-wait');
    const folder = join(root, 'mnt/sda2/log/apps/chatty');
    const last = await until('the last line in the log', async () => {
      const text = await readFile(join(folder, 'chatty.log'), 'utf8').catch(() => '');
      return text.includes('line 39999 ') ? text : undefined;
    });
    ctl('service', 'stop', 'chatty');
    const rotated = await readFile(join(folder, 'chatty.log.1'), 'utf8');
    assert.ok(Buffer.byteLength(last) <= 1024 * 1024 && Buffer.byteLength(rotated) <= 1024 * 1024);
    assert.ok(Buffer.byteLength(last) + Buffer.byteLength(rotated) > 1024 * 1024, 'both files in use');
    // Each line stamped with its time, in the order printed.
    assert.match(rotated + last, /\dZ line 39998 x+\n\S+Z line 39999 /);
  });

  it('restarts a service by hand: a new process, serving again', async () => {
    const before = ctl('service', 'show', 'echo');
    assert.equal(before.state, 'running');
    const after = ctl('service', 'restart', 'echo');
    assert.ok(['starting', 'running'].includes(after.state), after.state);
    const running = await until('echo running again', async () => {
      const s = ctl('service', 'show', 'echo');
      return s.state === 'running' ? s : undefined;
    });
    assert.notEqual(running.pid, before.pid);
    assert.equal((await fetchRaw(`${http}/example.com/echo1/hello`)).status, 200);
    const unknown = runApSync(['ctl', 'service', 'restart', 'nosuch', '--root', root]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /NOT_FOUND|no service/);
  });
});
