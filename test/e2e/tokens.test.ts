// API tokens through the bundled supervisor, over real HTTP: made by a
// session and by root (ap ctl token), each scope let through or refused
// before anything runs, revoked and expired tokens refused at once, bad ones
// throttled, and the secret never written anywhere but in the one answer.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { until } from '../harness/http';
import { asSuperuser, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { canNamespace, serveInNamespace } from '../harness/netns';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let base: string;
const PASSWORD = 'tokens-e2e-pass-2026';
let session = { cookie: '', csrf: '' };
/** Every token text made in this file: none may show up in a log or file. */
const made: string[] = [];

interface Answer {
  status: number;
  body: any;
  text: string;
}

/** One request to the Manager's port from `from` (127.0.0.x: the throttle counts per address). */
function call(method: string, path: string, options: { token?: string; authorization?: string; body?: unknown; raw?: string; session?: boolean; from?: string } = {}): Promise<Answer> {
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const headers: Record<string, string | number> = {
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...(options.authorization !== undefined ? { authorization: options.authorization } : {}),
    ...(options.session ? { cookie: session.cookie, 'x-csrf-token': session.csrf } : {}),
    ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers, agent: false, localAddress: options.from ?? '127.0.0.1' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        const set = res.headers['set-cookie'];
        if (set?.[0]) session.cookie = set[0].split(';')[0]!;
        resolve({ status: res.statusCode ?? 0, text, body: String(res.headers['content-type']).includes('json') && text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const api = (method: string, path: string, options: Parameters<typeof call>[2] = {}) => call(method, `/manager/api${path}`, options);
const ctl = (root: string, ...args: string[]) => runApSync(['ctl', ...args, '--root', root]);

/** A token made by the session; kept for the log check. */
async function create(name: string, scopes: string[], expiresInDays?: number): Promise<{ id: string; token: string }> {
  const answer = await api('POST', '/tokens', { session: true, body: { name, scopes, ...(expiresInDays ? { expiresInDays } : {}) } });
  assert.equal(answer.status, 201, answer.text);
  made.push(answer.body.token);
  return answer.body;
}

before(async () => {
  dir = await workspace('ap-tokens-e2e-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--monitor-interval', '1']);
  base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
  assert.equal(ctl(root, 'password', PASSWORD).status, 0);
  const login = await call('POST', '/manager/api/session', { body: { password: PASSWORD } });
  assert.equal(login.status, 200, login.text);
  session.csrf = login.body.csrf;
});

after(async () => {
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

describe('API tokens over HTTP', () => {
  it('admin: the API without cookie or CSRF token, changes included; shown once, listed without the secret', async () => {
    const admin = await create('script', ['admin']);
    assert.match(admin.token, /^apt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const services = await api('GET', '/services', { token: admin.token });
    assert.deepEqual([services.status, services.body.services], [200, []]);
    const changed = await api('PUT', '/settings/diskThreshold', { token: admin.token, body: { value: '91' } });
    assert.equal(changed.status, 200, changed.text);
    assert.equal((await api('GET', '/settings', { session: true })).body.settings.diskThreshold.value, '91');
    // The log of changes says who made each: this token, a session, ap ctl.
    assert.equal((await api('PUT', '/settings/diskThreshold', { session: true, body: { value: '91' } })).status, 200);
    assert.equal(ctl(root, 'setting', 'set', 'diskThreshold', '91').status, 0);
    const changes = await until('the three changes logged', async () => {
      const lines = run.output.text.split('\n').filter((l) => l.includes(' changes: PUT /settings/diskThreshold by '));
      return lines.length >= 3 ? lines : undefined;
    });
    assert.match(changes[0]!, new RegExp(`by API token script \\(${admin.id}\\) from 127\\.0\\.0\\.1$`), changes.join('\n'));
    assert.match(changes[1]!, / by a Manager session from 127\.0\.0\.1$/);
    assert.match(changes[2]!, / by ap ctl \(root on the box\)$/);
    const listed = await api('GET', '/tokens', { session: true });
    assert.equal(listed.status, 200);
    const entry = listed.body.tokens.find((t: { id: string }) => t.id === admin.id);
    assert.deepEqual(Object.keys(entry).sort(), ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'scopes']);
    assert.ok(!listed.text.includes(admin.token.slice(-43)));
    // Its use is written (at most once a minute), so the list shows it.
    await until('the last use written', async () => ((await api('GET', '/tokens', { session: true })).body.tokens.find((t: { id: string }) => t.id === admin.id).lastUsedAt ? true : undefined));
  });

  it('read: GET and HEAD only; a change is 403 TOKEN_SCOPE naming the scope, and nothing changes', async () => {
    const { token } = await create('reader', ['read']);
    assert.equal((await api('GET', '/settings', { token })).status, 200);
    assert.equal((await api('HEAD', '/services', { token })).status, 200);
    const refused = await api('PUT', '/settings/diskThreshold', { token, body: { value: '80' } });
    assert.deepEqual([refused.status, refused.body.error.code], [403, 'TOKEN_SCOPE']);
    assert.match(refused.body.error.message, /needs the admin scope/);
    assert.equal((await api('GET', '/settings', { token })).body.settings.diskThreshold.value, '91');
    // Answers with passwords or a whole database are not for a token that only looks.
    for (const path of ['/instances', '/instances/x@a.test', '/replication', '/backups/manager/download', '/backups/instances/x@a.test/download', '/installer/jobs/1']) {
      const secret = await api('GET', path, { token });
      assert.deepEqual([secret.status, secret.body?.error?.code], [403, 'TOKEN_SCOPE'], path);
    }
    const admin = await create('reader-admin', ['admin']);
    assert.equal((await api('GET', '/instances', { token: admin.token })).status, 200);
  });

  it('installer: let through to the route table below /installer only; metrics: nothing of the API', async () => {
    const installer = await create('app-installer', ['installer']);
    const services = await api('GET', '/services', { token: installer.token });
    assert.deepEqual([services.status, services.body.error.code], [403, 'TOKEN_SCOPE']);
    assert.match(services.body.error.message, /needs the read scope \(or admin\)/);
    // No such installer route (yet): the table answers, not the scope check.
    const through = await api('POST', '/installer/no-such-resource', { token: installer.token, body: {} });
    assert.deepEqual([through.status, through.body.error.code], [404, 'NOT_FOUND']);
    const metrics = await create('prometheus', ['metrics']);
    for (const path of ['/services', '/metrics']) {
      const answer = await api('GET', path, { token: metrics.token });
      assert.deepEqual([answer.status, answer.body.error.code], [403, 'TOKEN_SCOPE'], path);
    }
  });

  it('a token can neither manage tokens nor use the session routes', async () => {
    const { token } = await create('no-minting', ['admin', 'read', 'installer', 'metrics']);
    const before = (await api('GET', '/tokens', { session: true })).body.tokens.length;
    for (const [method, path, body] of [['POST', '/tokens', { name: 'child', scopes: ['admin'] }], ['DELETE', `/tokens/${(await api('GET', '/tokens', { session: true })).body.tokens[0].id}`], ['POST', '/password', { current: PASSWORD, password: 'another-pass-2026' }], ['GET', '/session'], ['DELETE', '/session']] as const) {
      const answer = await api(method, path, { token, ...(body ? { body } : {}) });
      assert.deepEqual([answer.status, answer.body.error.code], [403, 'TOKEN_SCOPE'], `${method} ${path}`);
    }
    assert.equal((await api('GET', '/tokens', { session: true })).body.tokens.length, before);
    // The session still works: the password was not changed, it was not logged out.
    assert.equal((await api('GET', '/session', { session: true })).status, 200);
  });

  it('revoked: 401 at the very next request; expired: 401', async () => {
    const revoked = await create('revoke-me', ['read']);
    assert.equal((await api('GET', '/services', { token: revoked.token, from: '127.0.0.3' })).status, 200);
    assert.equal((await api('DELETE', `/tokens/${revoked.id}`, { session: true })).status, 200);
    const after = await api('GET', '/services', { token: revoked.token, from: '127.0.0.3' });
    assert.deepEqual([after.status, after.body.error.code], [401, 'UNAUTHENTICATED']);
    assert.match(after.body.error.message, /unknown or was revoked/);
    const expiring = await create('expire-me', ['read'], 1);
    assert.equal((await api('GET', '/services', { token: expiring.token, from: '127.0.0.3' })).status, 200);
    await asSuperuser(root, 'manager', (sql) => sql`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${expiring.id}`);
    const expired = await api('GET', '/services', { token: expiring.token, from: '127.0.0.3' });
    assert.deepEqual([expired.status, expired.body.error.code], [401, 'UNAUTHENTICATED']);
    assert.match(expired.body.error.message, /expire-me expired at/);
  });

  it('a malformed bearer is 401 and changes nothing; other schemes are left to the session', async () => {
    for (const authorization of ['Bearer', 'Bearer not-a-token', `Bearer apt_${'0'.repeat(16)}_${'A'.repeat(43)}`]) {
      const answer = await api('PUT', '/settings/diskThreshold', { authorization, body: { value: '70' }, from: '127.0.0.4' });
      assert.deepEqual([answer.status, answer.body.error.code], [401, 'UNAUTHENTICATED'], authorization);
    }
    // A proxy's Basic login in front of the Manager: the cookie and CSRF token still decide.
    const basic = await api('GET', '/services', { authorization: 'Basic dXNlcjpwdw==', session: true, from: '127.0.0.5' });
    assert.equal(basic.status, 200);
    assert.equal((await api('GET', '/settings', { session: true })).body.settings.diskThreshold.value, '91');
  });

  it('a body that is not JSON is 400 (or 401 for a bad token) while the token is looked up, and the supervisor lives on', async () => {
    const good = await create('bodies', ['admin']);
    for (const raw of ['nonsense', '{"value":', 'x'.repeat(70_000)]) {
      const bad = await api('PUT', '/settings/diskThreshold', { token: `apt_${'2'.repeat(16)}_${'C'.repeat(43)}`, raw, from: '127.0.0.11' });
      assert.deepEqual([bad.status, bad.body.error.code], [401, 'UNAUTHENTICATED']);
      const valid = await api('PUT', '/settings/diskThreshold', { token: good.token, raw, from: '127.0.0.12' });
      assert.deepEqual([valid.status, valid.body.error.code], [400, 'BAD_REQUEST']);
    }
    // The session's own routes read their body too: a login that is not JSON is the caller's mistake.
    const login = await call('POST', '/manager/api/session', { raw: 'nonsense', from: '127.0.0.13' });
    assert.deepEqual([login.status, login.body.error.code], [400, 'BAD_REQUEST']);
    assert.equal((await api('GET', '/services', { token: good.token })).status, 200, 'still serving');
    assert.doesNotMatch(run.output.text, /internal error/);
  });

  it('throttles bad tokens per address with the logins: 429, a good token and a login from there too; other addresses not', async () => {
    const good = await create('throttled', ['read']);
    let throttled: Answer | null = null;
    for (let i = 0; i < 12 && !throttled; i++) {
      const answer = await api('GET', '/services', { token: `apt_${'1'.repeat(16)}_${'B'.repeat(43)}`, from: '127.0.0.9' });
      if (answer.status === 429) throttled = answer;
      else assert.equal(answer.status, 401);
    }
    assert.equal(throttled?.body.error.code, 'TOO_MANY_ATTEMPTS');
    assert.equal((await api('GET', '/services', { token: good.token, from: '127.0.0.9' })).status, 429);
    assert.equal((await call('POST', '/manager/api/session', { body: { password: PASSWORD }, from: '127.0.0.9' })).status, 429);
    assert.equal((await api('GET', '/services', { token: good.token, from: '127.0.0.10' })).status, 200);
    await run.waitFor(/API token from 127\.0\.0\.9 refused: unknown token 1111111111111111/, 5000);
  });

  it('declares the bearer scheme beside the cookie in the OpenAPI document', async () => {
    const doc = (await api('GET', '/openapi.json')).body;
    assert.deepEqual(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', bearerFormat: 'apt_<id>_<secret>', description: doc.components.securitySchemes.bearer.description });
    assert.deepEqual(doc.security, [{ session: [], csrf: [] }, { bearer: [] }]);
    assert.ok(doc.paths['/tokens'].post.responses['403'].description.includes('TOKEN_SCOPE'));
    assert.ok(doc.paths['/tokens/{id}'].delete);
  });
});

describe('ap ctl token', () => {
  it('creates (printed once), lists, and revokes by name or id; bad input changes nothing', async () => {
    const createdText = ctl(root, 'token', 'create', 'ctl-made', '--scope', 'read,installer', '--expires-days', '7');
    assert.equal(createdText.status, 0, createdText.stderr);
    const token = /^(apt_\S+)$/m.exec(createdText.stdout)?.[1];
    assert.ok(token, createdText.stdout);
    made.push(token);
    assert.match(createdText.stdout, /shown this once/);
    assert.equal((await api('GET', '/services', { token })).status, 200);

    const listed = ctl(root, 'token', 'list');
    assert.match(listed.stdout, /^[0-9a-f]{16} {2}ctl-made +read,installer +created \S+, expires \S+, last used /m);
    assert.ok(!listed.stdout.includes(token));
    const json = JSON.parse(ctl(root, 'token', 'list', '--json').stdout) as { id: string; name: string; expiresAt: string }[];
    const mine = json.find((t) => t.name === 'ctl-made')!;
    assert.ok(Math.abs(Date.parse(mine.expiresAt) - Date.now() - 7 * 86_400_000) < 120_000);

    const count = json.length;
    for (const args of [['create', 'bad-scope', '--scope', 'root'], ['create', 'no-scope'], ['create', 'bad name', '--scope', 'read'], ['create', 'days', '--scope', 'read', '--expires-days', '0'], ['create', 'ctl-made', '--scope', 'read'], ['list', '--scope', 'read']]) {
      const result = ctl(root, 'token', ...args);
      assert.notEqual(result.status, 0, args.join(' '));
      assert.match(result.stderr, /^ap: /, args.join(' '));
    }
    assert.equal((JSON.parse(ctl(root, 'token', 'list', '--json').stdout) as unknown[]).length, count);
    // An unknown scope is told with the scopes there are.
    assert.equal(ctl(root, 'token', 'create', 'bad-scope', '--scope', 'read,root').stderr, 'ap: scopes.1: expected one of admin, read, installer or metrics\n');

    const revoked = ctl(root, 'token', 'revoke', 'CTL-made');
    assert.equal(revoked.stdout, `API token ctl-made (${mine.id}) revoked\n`);
    assert.equal((await api('GET', '/services', { token, from: '127.0.0.6' })).status, 401);
    const other = await create('by-id', ['read']);
    assert.equal(ctl(root, 'token', 'revoke', other.id).status, 0);
    const gone = ctl(root, 'token', 'revoke', other.id);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /no API token with the id or name/);
  });
});

describe('a Manager restore', () => {
  it('keeps the tokens as they are: one revoked since the backup stays revoked, one made since stays', async () => {
    const old = await create('before-backup', ['read']);
    const file = join(dir, 'manager.apbk');
    const backup = ctl(root, 'backup', 'manager', '--file', file);
    assert.equal(backup.status, 0, backup.stderr);
    assert.equal((await api('DELETE', `/tokens/${old.id}`, { session: true })).status, 200);
    const fresh = await create('after-backup', ['read']);
    const restored = ctl(root, 'restore', 'manager', file);
    assert.equal(restored.status, 0, restored.stderr);
    const revived = await api('GET', '/services', { token: old.token, from: '127.0.0.21' });
    assert.deepEqual([revived.status, revived.body?.error?.code], [401, 'UNAUTHENTICATED'], 'a revoked token is not brought back');
    assert.equal((await api('GET', '/services', { token: fresh.token, from: '127.0.0.22' })).status, 200, 'a token made since is kept');
  });
});

describe('the secrets', () => {
  it('appear nowhere in the log or under the state root (only their hashes are kept)', () => {
    assert.ok(made.length >= 8);
    for (const token of made) {
      const secret = token.slice(-43);
      assert.ok(!run.output.text.includes(secret), 'in the log');
      const found = spawnSync('grep', ['-r', '-l', '-F', '-a', secret, root], { encoding: 'utf8' });
      assert.equal(found.stdout, '', `under the root: ${found.stdout}`);
    }
  });
});

// /manager/metrics from another address than loopback: a supervisor in a network namespace of its own (test/harness/netns.ts).
describe('/manager/metrics with a token', { skip: canNamespace ? false : 'needs root for a network namespace' }, () => {
  it('serves a metrics (or admin) token while metricsAccess is local; refuses a read token and none', async () => {
    const nsRoot = await rootWithConfig(join(dir, 'ns'), {});
    const box = await serveInNamespace(nsRoot);
    const metrics = (address: string, token?: string) => box.metrics(address, ...(token ? ['-H', `Authorization: Bearer ${token}`] : []));
    try {
      const tokenOf = (name: string, scope: string) => {
        const result = ctl(nsRoot, 'token', 'create', name, '--scope', scope, '--json');
        assert.equal(result.status, 0, result.stderr);
        return JSON.parse(result.stdout).token as string;
      };
      await until('metrics collected', async () => (metrics('127.0.0.1') === 200 ? true : undefined));
      const prometheus = tokenOf('prometheus', 'metrics');
      assert.equal(metrics('10.77.0.1'), 403, 'local (the default): refused without a token');
      assert.equal(metrics('10.77.0.1', prometheus), 200);
      assert.equal(metrics('10.77.0.1', tokenOf('admin', 'admin')), 200);
      assert.equal(metrics('10.77.0.1', tokenOf('reader', 'read')), 403);
      assert.equal(ctl(nsRoot, 'token', 'revoke', 'prometheus').status, 0);
      assert.equal(metrics('10.77.0.1', prometheus), 403, 'revoked');
    } finally {
      await box.stop();
    }
  });
});
