// How postgres.js is told where a server is: an IPv6 address must reach it
// whole (a plain string host is split at ":"), a socket folder as its socket.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { pgAddress } from '../../src/db';

/** The host, port and path postgres.js will connect to (it connects only at the first query). */
function target(options: Record<string, unknown>): { host: unknown; port: unknown; path: unknown } {
  const sql = postgres(options);
  const { host, port, path } = sql.options as unknown as { host: unknown; port: unknown; path: unknown };
  void sql.end();
  return { host, port, path };
}

describe('pgAddress', () => {
  it('keeps an IPv6 address whole, with its port', () => {
    assert.deepEqual(target({ host: '::1', port: 25999 }).host, ['']); // why: the string form loses it
    assert.deepEqual(target(pgAddress('::1', 25999)), { host: ['::1'], port: [25999], path: false });
    assert.deepEqual(target(pgAddress('fd00::5', 5433)), { host: ['fd00::5'], port: [5433], path: false });
  });

  it('keeps host names and IPv4 addresses', () => {
    assert.deepEqual(target(pgAddress('db.example.com', 5432)), { host: ['db.example.com'], port: [5432], path: false });
    assert.deepEqual(target(pgAddress('10.0.0.5', 6543)), { host: ['10.0.0.5'], port: [6543], path: false });
  });

  it('connects to a socket folder through its socket, whatever the folder is called', () => {
    assert.equal(target(pgAddress('/run/a:b,c', 5432)).path, '/run/a:b,c/.s.PGSQL.5432');
  });
});
