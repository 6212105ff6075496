// Every answer of a real supervisor against its route's schema: the harness
// starts it with AP_CHECK_RESPONSES=1, so an answer its schema does not allow
// is a 500 naming route and field. Here every GET of the table that needs no
// path parameter is called once, logged in, over HTTP as the Manager UI does.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { ensureStopped, readyPorts, runAp, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { table } from './table';

let dir: string;
let run: Run;
let base: string;
let cookie = '';
let csrf = '';

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}/manager/api${path}`, {
    method,
    headers: { ...(cookie ? { cookie } : {}), ...(csrf ? { 'x-csrf-token': csrf } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const set = response.headers.get('set-cookie');
  if (set) cookie = set.split(';')[0]!;
  return { status: response.status, body: await response.json() };
}

async function login(password: string): Promise<{ status: number; body: any }> {
  const answer = await call('POST', '/session', { password });
  if (answer.status === 200) csrf = answer.body.csrf;
  return answer;
}

before(async () => {
  dir = await workspace('ap-answers-');
  const root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('answers of a running supervisor', () => {
  it('fit their schemas: the session answers, and every GET of the table without a path parameter', async () => {
    assert.equal((await login('pwd')).status, 200);
    assert.equal((await call('POST', '/password', { current: 'pwd', password: 'a-good-pass-2026' })).status, 200);
    const session = await login('a-good-pass-2026');
    assert.deepEqual(Object.keys(session.body).sort(), ['csrf', 'mustChangePassword']);
    const gets = table.filter((r) => r.method === 'GET' && !r.pattern.includes('{') && !r.download);
    assert.ok(gets.length >= 15, `only ${gets.length} routes`);
    const failed: string[] = [];
    let fitted = 0;
    for (const r of gets) {
      const answer = await call('GET', r.pattern);
      if (answer.status === 200) fitted++;
      // 4xx is a setting not made here (no App Store URL): an error body, no schema of the route's to match.
      if (answer.status >= 500) failed.push(`${r.pattern}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    assert.deepEqual(failed, [], run.output.text.split('\n').filter((l) => l.includes('response schema')).join('\n'));
    assert.doesNotMatch(run.output.text, /does not match its response schema/);
    assert.ok(fitted >= gets.length - 2, `only ${fitted} of ${gets.length} answered 200`);
  });
});
