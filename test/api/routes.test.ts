import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Api, StreamBody, T, type ApiRoute } from '../../src/api';
import { SESSION_ROUTES } from '../../src/manager/http';
import { table } from './table';

describe('response schemas', () => {
  it('every route of the table and of the Manager transport declares what it answers: a JSON schema or a download', () => {
    assert.ok(table.length > 50, `only ${table.length} routes: the table above misses parts of compose.ts`);
    // The event socket answers with a WebSocket upgrade, not a body.
    const routes = [...table, ...SESSION_ROUTES.filter((r) => r.pattern !== '/events')];
    const undeclared = routes.filter((r) => !('download' in r && r.download) && !r.response).map((r) => `${r.method} ${r.pattern}`);
    assert.deepEqual(undeclared, []);
    const both = routes.filter((r) => 'download' in r && r.download && r.response).map((r) => `${r.method} ${r.pattern}`);
    assert.deepEqual(both, []);
  });

  describe('checked at run time (AP_CHECK_RESPONSES=1)', () => {
    const Thing = T.Object({ id: T.String(), size: T.Integer(), seen: T.Union([T.String({ format: 'date-time' }), T.Null()]) });
    const routes: ApiRoute[] = [
      { method: 'GET', pattern: '/things/right', summary: '', response: Thing, handler: () => ({ id: 'a', size: 1, seen: new Date(0) }) },
      { method: 'GET', pattern: '/things/wrong', summary: '', response: Thing, handler: () => ({ id: 'a', size: '1', seen: null }) },
      { method: 'GET', pattern: '/things/bad-date', summary: '', response: Thing, handler: () => ({ id: 'a', size: 1, seen: 'yesterday' }) },
      { method: 'POST', pattern: '/things', summary: '', status: 201, response: Thing, handler: () => ({ id: 'a', seen: null }) },
      { method: 'GET', pattern: '/things/file', summary: '', download: { type: 'text/plain' }, handler: () => new StreamBody((async function* () {})(), 'text/plain', 'x.txt') },
    ];

    it('answers 500 INTERNAL and logs route and field when a handler answers what its schema does not allow', async () => {
      const logged: string[] = [];
      const api = new Api(routes, { checkResponses: true });
      const wrong = await api.handle({ method: 'GET', path: '/things/wrong' }, (err, status) => logged.push(`${status} ${(err as Error).message}`));
      assert.equal(wrong.status, 500);
      assert.equal((wrong.body as { error: { code: string } }).error.code, 'INTERNAL');
      assert.deepEqual(logged, ['500 the answer of GET /things/wrong does not match its response schema: size: expected an integer']);
      const missing = await api.handle({ method: 'POST', path: '/things' }, (err) => logged.push((err as Error).message));
      assert.equal(missing.status, 500);
      assert.match(logged.at(-1)!, /POST \/things .*size: required/);
      assert.equal((await api.handle({ method: 'GET', path: '/things/bad-date' }, (err) => logged.push((err as Error).message))).status, 500);
      assert.match(logged.at(-1)!, /seen: /);
    });

    it('passes an answer that fits, checked as JSON (a Date is its ISO string), and leaves downloads alone', async () => {
      const api = new Api(routes, { checkResponses: true });
      const right = await api.handle({ method: 'GET', path: '/things/right' });
      assert.equal(right.status, 200);
      assert.deepEqual(right.body, { id: 'a', size: 1, seen: new Date(0) });
      const file = await api.handle({ method: 'GET', path: '/things/file' });
      assert.equal(file.status, 200);
      assert.ok(file.body instanceof StreamBody);
    });

    it('checks nothing unless asked: the same wrong answer goes out as the handler made it', async () => {
      const wrong = await new Api(routes).handle({ method: 'GET', path: '/things/wrong' });
      assert.deepEqual(wrong, { status: 200, body: { id: 'a', size: '1', seen: null } });
    });
  });
});
