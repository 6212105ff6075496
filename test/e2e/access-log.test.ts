// The access log (setting accessLog): off by default; when on, a line per
// HTTP answer and WebSocket upgrade on every listener, with the client, the
// request, the status, the bytes and the time taken.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import WebSocket from 'ws';
import { fetchRaw, until } from '../harness/http';
import { ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let ports: { app: number; manager: number };

const ctl = (...args: string[]) => runApSync(['ctl', ...args, '--root', root]);
const logFile = () => join(root, 'mnt/sda2/log/access.log');
const lines = async () => (await readFile(logFile(), 'utf8').catch(() => '')).split('\n').filter(Boolean);

before(async () => {
  dir = await workspace('ap-access-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  ports = await readyPorts(run);
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

it('writes nothing while off (the default), a line per answer and upgrade once on, and stops again when off', async () => {
  await fetchRaw(`http://127.0.0.1:${ports.manager}/manager/health`);
  assert.deepEqual(await lines(), [], 'off by default');

  assert.equal(ctl('setting', 'set', 'accessLog', 'on').status, 0);
  // Followed within seconds: the first request that lands in the log says it is on.
  await until('the access log on', async () => {
    await fetchRaw(`http://127.0.0.1:${ports.manager}/manager/health?probe=1`);
    return (await lines()).length > 0 ? true : undefined;
  }, 20_000);
  const health = await fetchRaw(`http://127.0.0.1:${ports.manager}/manager/health`);
  const missing = await fetchRaw(`http://127.0.0.1:${ports.app}/example.com/nothing/here?q="x"`);
  assert.equal(missing.status, 404);
  const refused = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.app}/example.com/nothing/ws`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
  });
  assert.equal(refused, 404);
  const text = await until('the three answers logged', async () => {
    const all = await lines();
    return all.some((l) => l.includes('/nothing/ws')) && all.some((l) => l.includes('/nothing/here')) ? all : undefined;
  });
  const line = /^(\S+Z) (\S+) "([^"]*)" (\d{3}|aborted) (\d+) (\d+)ms$/;
  for (const l of text) assert.match(l, line);
  const find = (part: string) => line.exec(text.find((l) => l.includes(part))!)!;
  const h = find('"GET /manager/health"');
  assert.deepEqual([h[2], h[4], Number(h[5])], ['127.0.0.1', '200', health.body.length]);
  const m = find('/nothing/here');
  assert.deepEqual([m[3], m[4], Number(m[5])], ['GET /example.com/nothing/here?q=%22x%22', '404', missing.body.length]);
  assert.equal(find('/nothing/ws')[4], '404');

  assert.equal(ctl('setting', 'set', 'accessLog', 'off').status, 0);
  // Followed within seconds: a line is written before its answer leaves, so a probe answered and not logged says it is off.
  let probe = 0;
  await until('the access log off', async () => {
    const query = `off-probe=${++probe}`;
    await fetchRaw(`http://127.0.0.1:${ports.manager}/manager/health?${query}`);
    return (await lines()).some((l) => l.includes(`${query}"`)) ? undefined : true;
  }, 20_000);
  const before = (await lines()).length;
  await fetchRaw(`http://127.0.0.1:${ports.manager}/manager/health?after=off`);
  assert.equal((await lines()).length, before, 'nothing written once off');
  assert.equal((await lines()).some((l) => l.includes('after=off')), false);
});
