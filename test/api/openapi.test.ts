import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openApiDocument } from '../../src/api/openapi';
import { SESSION_ROUTES } from '../../src/manager/http';
import { openApiErrors } from './lint';
import { table as routes } from './table';

const doc = openApiDocument(routes, { title: 'App Platform Manager API', version: 'test', extra: SESSION_ROUTES }) as any;
const op = (method: string, pattern: string) => doc.paths[pattern][method];

describe('OpenAPI document', () => {
  it('passes the Redocly linter (recommended rules) without errors', async () => {
    assert.deepEqual(await openApiErrors(doc), []);
  });

  it('is checked by a linter that does find errors: a path parameter left undeclared, a response with no description', async () => {
    const broken = structuredClone(doc);
    delete broken.paths['/jobs/{id}'].get.parameters;
    delete broken.paths['/jobs'].get.responses['200'].description;
    const errors = await openApiErrors(broken);
    assert.ok(errors.some((e) => e.startsWith('path-parameters-defined')), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('struct')), errors.join('\n'));
  });

  it('shows the request body each route checks, with its required and refused fields', () => {
    const create = op('post', '/instances').requestBody.content['application/json'].schema;
    assert.deepEqual(create.required, ['service', 'name', 'domain']);
    assert.equal(create.additionalProperties, false);
    assert.equal(create.properties.excludeFromBackup.type, 'boolean');
    assert.equal(op('put', '/settings/{name}').requestBody.content['application/json'].schema.properties.value.type, 'string');
    assert.deepEqual(op('post', '/restores/instances').requestBody.content['application/json'].schema.required, ['file']);
  });

  it('declares query parameters, answers and the errors by status', () => {
    const drop = op('delete', '/instances/{id}').parameters.find((p: { name: string }) => p.name === 'dropDatabase');
    assert.deepEqual([drop.in, drop.required, drop.schema.type], ['query', false, 'string']);
    assert.ok(op('post', '/instances').parameters.some((p: { name: string; in: string }) => p.name === 'adoptDatabase' && p.in === 'query'));
    assert.ok(op('get', '/services/{name}/log/tail').parameters.some((p: { name: string }) => p.name === 'bytes'));
    const created = op('post', '/instances').responses;
    assert.deepEqual(created['201'].content['application/json'].schema.required.slice(0, 3), ['id', 'service', 'name']);
    assert.match(created['400'].description, /INVALID_FIELD/);
    assert.match(created['409'].description, /DATABASE_EXISTS/);
    assert.equal(created['401'].content['application/json'].schema.$ref, '#/components/schemas/Error');
    assert.match(op('get', '/jobs/{id}').responses['404'].description, /NOT_FOUND/);
    assert.equal(op('get', '/jobs').responses['200'].content['application/json'].schema.properties.jobs.items.properties.state.anyOf.length, 3);
    assert.deepEqual(op('post', '/session').security, []);
  });

  it('shows a real answer schema for every JSON operation, not a bare object', () => {
    const bare: string[] = [];
    for (const [pattern, operations] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>>)) {
      if (pattern === '/events') continue; // a WebSocket upgrade
      for (const [method, operation] of Object.entries(operations)) {
        const [status, success] = Object.entries(operation.responses).find(([s]) => s.startsWith('2'))!;
        const schema = success.content?.['application/json']?.schema;
        if (schema && !schema.properties && !schema.allOf && !schema.anyOf) bare.push(`${method} ${pattern} ${status}`);
      }
    }
    assert.deepEqual(bare, []);
    assert.equal(op('get', '/status').responses['200'].content['application/json'].schema.properties.db.properties.port.type, 'integer');
    assert.deepEqual(op('get', '/session').responses['200'].content['application/json'].schema.required, ['csrf', 'mustChangePassword']);
  });

  it('types downloads and uploads as what they are, and tags every operation', () => {
    assert.deepEqual(Object.keys(op('get', '/backups/instances/{id}/download').responses['200'].content), ['application/octet-stream']);
    assert.deepEqual(op('get', '/services/{name}/log').responses['200'].content['text/plain'].schema, { type: 'string' });
    assert.ok(op('post', '/restores/instances/upload').requestBody.content['application/octet-stream']);
    for (const [pattern, operations] of Object.entries(doc.paths as Record<string, Record<string, { tags: string[] }>>)) {
      for (const operation of Object.values(operations)) assert.equal(operation.tags.length, 1, pattern);
    }
    assert.deepEqual(op('get', '/instances').tags, ['instances']);
    assert.ok(doc.tags.some((t: { name: string }) => t.name === 'backups'));
  });
});
