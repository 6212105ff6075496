import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from '../../src/webserver';

const route = (prefix: string) => ({ prefix, instance: prefix, service: 's', maxBodyBytes: null, domain: 'd', password: 'p' });

describe('route table', () => {
  const table = new RouteTable([route('/example.com/app'), route('/example.com/app/admin'), route('/other')]);

  it('matches whole segments, longest prefix first, case-sensitive', () => {
    const cases: [string, string | null][] = [
      ['/example.com/app', '/example.com/app'],
      ['/example.com/app/', '/example.com/app'],
      ['/example.com/app/x/y', '/example.com/app'],
      ['/example.com/app/admin', '/example.com/app/admin'],
      ['/example.com/app/admin/users', '/example.com/app/admin'],
      ['/example.com/app/administrator', '/example.com/app'],
      ['/example.com/apps', null],
      ['/Example.com/app', null],
      ['/example.com', null],
      ['/', null],
      ['/other/', '/other'],
    ];
    for (const [path, want] of cases) assert.equal(table.match(path)?.prefix ?? null, want, path);
  });

  it('refuses prefixes that could never match or are the Manager', () => {
    assert.throws(() => new RouteTable([route('example.com')]), /must start with/);
    assert.throws(() => new RouteTable([route('/a/')]), /trailing/);
    assert.throws(() => new RouteTable([route('/a//b')]), /empty segment/);
    assert.throws(() => new RouteTable([route('/manager')]), /Manager/);
    assert.throws(() => new RouteTable([route('/a'), route('/a')]), /twice/);
  });
});
