import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Api, Flag, httpStatus, openApiDocument, queryFlag, route, T } from '../../src/api';
import { ApError, ERROR_CODES, InvalidField } from '../../src/errors';

describe('admin API table', () => {
  const seen: unknown[] = [];
  const api = new Api([
    { method: 'GET', pattern: '/things', summary: '', handler: () => ({ things: [] }) },
    { method: 'POST', pattern: '/things', summary: '', status: 201, handler: ({ body }) => ({ made: body }) },
    { method: 'GET', pattern: '/things/{id}', summary: '', handler: ({ params }) => ({ id: params.id }) },
    { method: 'POST', pattern: '/things/{id}/bad', summary: '', handler: () => { throw new InvalidField('colour', 'not a colour'); } },
    { method: 'POST', pattern: '/things/{id}/boom', summary: '', handler: () => { throw new Error('secret internals'); } },
    { method: 'POST', pattern: '/things/{id}/gone', summary: '', handler: () => { throw new ApError('NOT_FOUND', 'no such thing'); } },
    { method: 'POST', pattern: '/things/{id}/mail', summary: '', handler: () => { throw new ApError('SMTP_NOT_CONFIGURED', 'set the SMTP server first'); } },
  ]);

  it('routes by method and path, decoding parameters', async () => {
    assert.deepEqual(await api.handle({ method: 'GET', path: '/things' }), { status: 200, body: { things: [] } });
    assert.deepEqual(await api.handle({ method: 'post', path: '/things', body: { a: 1 } }), { status: 201, body: { made: { a: 1 } } });
    assert.deepEqual(await api.handle({ method: 'GET', path: '/things/a%40example.com' }), { status: 200, body: { id: 'a@example.com' } });
  });

  it('answers errors with a stable code, a status and no internals', async () => {
    assert.deepEqual(await api.handle({ method: 'DELETE', path: '/things' }), { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'DELETE is not allowed on /things' } } });
    assert.equal((await api.handle({ method: 'GET', path: '/nothing' })).status, 404);
    assert.equal((await api.handle({ method: 'GET', path: '/things/%zz' })).status, 404);
    assert.deepEqual(await api.handle({ method: 'POST', path: '/things/x/bad' }), { status: 400, body: { error: { code: 'INVALID_FIELD', message: 'colour: not a colour', field: 'colour' } } });
    assert.deepEqual(await api.handle({ method: 'POST', path: '/things/x/gone' }), { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no such thing' } } });
    const boom = await api.handle({ method: 'POST', path: '/things/x/boom' }, (err) => seen.push(err));
    assert.equal(boom.status, 500);
    assert.equal(JSON.stringify(boom.body).includes('secret'), false);
    assert.equal(seen.length, 1);
    assert.equal(httpStatus('DATABASE_EXISTS'), 409);
  });

  it('answers a setting not made yet with 409, reported to be logged as a warning, not as an internal error', async () => {
    const heard: [unknown, number][] = [];
    const answer = await api.handle({ method: 'POST', path: '/things/x/mail' }, (err, status) => heard.push([err, status]));
    assert.deepEqual(answer, { status: 409, body: { error: { code: 'SMTP_NOT_CONFIGURED', message: 'set the SMTP server first' } } });
    assert.equal(heard.length, 1);
    assert.equal(heard[0]![1], 409);
    // Plain bad input is the client's business: not logged.
    await api.handle({ method: 'POST', path: '/things/x/bad' }, (err, status) => heard.push([err, status]));
    assert.equal(heard.length, 1);
  });

  it('takes every status from the one registry, and a code it does not know is 500', () => {
    assert.equal(httpStatus('TOO_MANY_ATTEMPTS'), 429);
    assert.equal(httpStatus('MAIL_FAILED'), 502);
    assert.equal(httpStatus('CERT_EXPIRED'), 400);
    assert.equal(httpStatus('NO_SUCH_CODE'), 500);
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      assert.ok(spec.status >= 400 && spec.status < 600, `${code}: ${spec.status}`);
      assert.match(code, /^[A-Z][A-Z0-9_]+$/);
    }
  });

  it('reads boolean query flags strictly', () => {
    assert.equal(queryFlag({ a: 'true' }, 'a'), true);
    assert.equal(queryFlag({}, 'a'), false);
    assert.equal(queryFlag({ a: '0' }, 'a'), false);
    assert.throws(() => queryFlag({ a: 'maybe' }, 'a'), /must be true or false/);
  });
});

describe('local routes (the admin socket only)', () => {
  let ran = 0;
  const api = new Api([
    { method: 'GET', pattern: '/box/{name}', summary: 'a neighbour on the path', handler: () => ({}) },
    { method: 'POST', pattern: '/box/reset', summary: 'root only', local: true, handler: () => ({ reset: ++ran }) },
    { method: 'POST', pattern: '/alone', summary: 'root only', local: true, handler: () => ({ alone: ++ran }) },
  ]);

  it('are answered over HTTP as if they were not in the table, and do not run', async () => {
    assert.deepEqual(await api.handle({ method: 'POST', path: '/alone' }), { status: 404, body: { error: { code: 'NOT_FOUND', message: 'no API resource /alone' } } });
    assert.deepEqual(await api.handle({ method: 'POST', path: '/alone' }, undefined, 'http'), await api.handle({ method: 'POST', path: '/alone' }));
    // Beside another method on the same path: what any other POST /box/<x> gets.
    assert.deepEqual(await api.handle({ method: 'POST', path: '/box/reset' }, undefined, 'http'), { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'POST is not allowed on /box/reset' } } });
    assert.equal(api.find('POST', '/alone'), null);
    assert.equal(ran, 0);
  });

  it('run over the admin socket', async () => {
    assert.deepEqual(await api.handle({ method: 'POST', path: '/alone' }, undefined, 'local'), { status: 200, body: { alone: 1 } });
    assert.deepEqual(await api.handle({ method: 'POST', path: '/box/reset' }, undefined, 'local'), { status: 200, body: { reset: 2 } });
    assert.equal(api.find('POST', '/alone', 'local')?.pattern, '/alone');
  });

  it('are left out of the OpenAPI document, which describes the HTTP API', () => {
    const doc = openApiDocument(api.routes, { title: 't', version: '1' }) as { paths: Record<string, Record<string, unknown>> };
    assert.deepEqual(Object.keys(doc.paths), ['/box/{name}']);
  });
});

describe('admin API input schemas', () => {
  const made: unknown[] = [];
  const api = new Api([
    route({
      method: 'POST',
      pattern: '/things',
      summary: '',
      status: 201,
      body: T.Object({ name: T.String(), size: T.Optional(T.Integer()), tags: T.Optional(T.Array(T.String())) }, { additionalProperties: false }),
      query: T.Object({ dryRun: T.Optional(Flag) }),
      handler: ({ body }) => {
        made.push(body);
        return { made: body.name };
      },
    }),
  ]);

  it('runs the handler only on a body and query the route accepts', async () => {
    assert.deepEqual(await api.handle({ method: 'POST', path: '/things', body: { name: 'a', size: 2 }, query: { dryRun: 'true', other: 'ignored' } }), { status: 201, body: { made: 'a' } });
    assert.equal(made.length, 1);
  });

  it('refuses a bad body or query with INVALID_FIELD naming the field, and runs nothing', async () => {
    for (const [body, query, field, message] of [
      [{ size: 2 }, {}, 'name', 'name: required'],
      [{ name: 7 }, {}, 'name', 'name: expected a string'],
      [{ name: 'a', size: 'big' }, {}, 'size', 'size: expected an integer'],
      [{ name: 'a', colour: 'red' }, {}, 'colour', 'colour: unknown field'],
      [{ name: 'a', tags: ['x', 3] }, {}, 'tags.1', 'tags.1: expected a string'],
      [['a'], {}, 'body', 'body: expected an object'],
      [{ name: 'a' }, { dryRun: 'maybe' }, 'dryRun', undefined],
    ] as const) {
      const answer = await api.handle({ method: 'POST', path: '/things', body, query });
      assert.equal(answer.status, 400, JSON.stringify(body));
      const error = (answer.body as { error: { code: string; field: string; message: string } }).error;
      assert.deepEqual([error.code, error.field], ['INVALID_FIELD', field]);
      if (message) assert.equal(error.message, message);
    }
    assert.equal(made.length, 1, 'no handler ran');
  });
});
