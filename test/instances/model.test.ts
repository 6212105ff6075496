import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { connect, quoteIdent, quoteLiteral } from '../../src/db';
import {
  checkDbIdentifier,
  formatDbHost,
  InvalidField,
  parseDbHost,
  parseInstanceId,
  provisioningSteps,
  validateCreate,
  validateEdit,
} from '../../src/instances';
import { stopTestCluster, testCluster } from '../harness/pg';

after(() => stopTestCluster());

const fieldOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidField, `expected InvalidField, got ${String(err)}`);
    return err.field;
  }
  assert.fail('expected an InvalidField');
};

describe('instance model', () => {
  it('fills in the seed defaults: path /<domain>/<name>, database and user <domain>_<name>, random passwords', () => {
    const i = validateCreate({ service: 'echo', name: 'app', domain: 'example.com' });
    assert.equal(i.path, '/example.com/app');
    assert.equal(i.dbName, 'example.com_app');
    assert.equal(i.dbUser, 'example.com_app');
    assert.equal(i.password.length, 20);
    assert.equal(i.dbPassword.length, 32);
    assert.notEqual(validateCreate({ service: 'echo', name: 'app', domain: 'example.com' }).dbPassword, i.dbPassword);
    assert.equal(i.traceFlags, 0x1 + 0x8000);
    assert.equal(i.wanted, 'running');
    assert.equal(i.phase, 'provisioning');
  });

  it('refuses a default database name of 64 characters with a message, takes 63', () => {
    const domain = 'example.com';
    const name63 = 'a'.repeat(63 - domain.length - 1);
    assert.equal(validateCreate({ service: 'echo', name: name63, domain }).dbName.length, 63);
    const name64 = `${name63}b`;
    assert.throws(() => validateCreate({ service: 'echo', name: name64, domain }), /dbName: the default "example\.com_a+b" \(<domain>_<name>\) is 64 characters; PostgreSQL allows 63/);
    // Shortened by hand, as the seed suggests, it works.
    const shortened = validateCreate({ service: 'echo', name: name64, domain, dbName: 'short_db', dbUser: 'short_user' });
    assert.equal(shortened.dbName, 'short_db');
    // The limit is in bytes: 32 two-byte characters are 64 bytes.
    assert.throws(() => checkDbIdentifier('é'.repeat(32), 'dbName'), /64 bytes/);
  });

  it('names the field of each bad value', () => {
    const base = { service: 'echo', name: 'app', domain: 'example.com' };
    assert.equal(fieldOf(() => validateCreate({ ...base, name: 'Bad Name' })), 'name');
    assert.equal(fieldOf(() => validateCreate({ ...base, name: "o'brien" })), 'name');
    assert.equal(fieldOf(() => validateCreate({ ...base, name: 'bücher' })), 'name');
    assert.equal(fieldOf(() => validateCreate({ ...base, domain: 'exa mple.com' })), 'domain');
    assert.equal(fieldOf(() => validateCreate({ ...base, domain: '-x.com' })), 'domain');
    assert.equal(fieldOf(() => validateCreate({ ...base, service: 'Echo!' })), 'service');
    assert.equal(fieldOf(() => validateCreate({ ...base, path: '/manager/x' })), 'path');
    assert.equal(fieldOf(() => validateCreate({ ...base, path: '/a/../b' })), 'path');
    assert.equal(fieldOf(() => validateCreate({ ...base, path: 'relative' })), 'path');
    assert.equal(fieldOf(() => validateCreate({ ...base, password: '' })), 'password');
    assert.equal(fieldOf(() => validateCreate({ ...base, password: 'a\nb' })), 'password');
    assert.equal(fieldOf(() => validateCreate({ ...base, dbName: 'manager' })), 'dbName');
    assert.equal(fieldOf(() => validateCreate({ ...base, dbUser: 'postgres' })), 'dbUser');
    assert.equal(fieldOf(() => validateCreate({ ...base, dbUser: 'pg_signal_backend' })), 'dbUser');
    assert.equal(fieldOf(() => validateCreate({ ...base, traceFlags: ['App', 'Nope'] })), 'traceFlags');
    assert.equal(fieldOf(() => validateCreate({ ...base, excludeFromBackup: 'yes' })), 'excludeFromBackup');
    assert.equal(fieldOf(() => validateCreate({ ...base, colour: 'red' } as never)), 'colour');
    assert.equal(fieldOf(() => validateCreate({ ...base, external: { host: 'db.example.com', name: 'x', user: 'u' } })), 'external.password');
    assert.equal(fieldOf(() => validateEdit({ name: 'other' } as never)), 'name');
    assert.equal(fieldOf(() => validateEdit({ dbName: 'other' } as never)), 'dbName');
    assert.equal(fieldOf(() => parseInstanceId('no-at-sign')), 'instance');
  });

  it('refuses paths that mean something else once decoded: encoded dots, slashes, NULs, control characters', () => {
    const base = { service: 'echo', name: 'app', domain: 'example.com' };
    for (const path of ['/a/%2e%2e/b', '/a/%2E/b', '/a/.%2e/b', '/a%2fb', '/a%2Fb/c', '/a%5cb', '/a%00b', '/a/%0a', '/a/%7f', '/a/%zz', '/a/50%', '/a/%c3', '/a/./b', '/a/..']) {
      assert.equal(fieldOf(() => validateCreate({ ...base, path })), 'path', path);
    }
    for (const path of ['/example.com/app', '/a/%20b', '/a/b%c3%bc', '/a/..b', '/a/.well-known']) {
      assert.equal(validateCreate({ ...base, path }).path, path);
    }
  });

  it('quotes at most 80 characters of a bad value, without control characters', () => {
    const base = { service: 'echo', name: 'app', domain: 'example.com' };
    for (const path of [`/a/../${'x'.repeat(900_000)}`, ['/a', 'y'.repeat(900_000)], '/a/..\u0007\u001b[2J']) {
      try {
        validateCreate({ ...base, path });
        assert.fail('accepted');
      } catch (err) {
        assert.ok(err instanceof InvalidField);
        assert.ok(err.message.length < 250, `${err.message.length} characters`);
        assert.doesNotMatch(err.message, /[\u0000-\u001f]/);
      }
    }
  });

  it('takes trace flags as names or a bitmask', () => {
    const base = { service: 'echo', name: 'app', domain: 'example.com' };
    assert.equal(validateCreate({ ...base, traceFlags: ['App', 'Database', 'Webserver'] }).traceFlags, 0x1 + 0x2 + 0x200000000);
    assert.equal(validateCreate({ ...base, traceFlags: 0x8000 }).traceFlags, 0x8000);
  });

  it('parses database hosts as DNS name, IPv4 or IPv6, with an optional port', () => {
    assert.deepEqual(parseDbHost('db.example.com'), { host: 'db.example.com', port: 5432 });
    assert.deepEqual(parseDbHost('DB.Example.com:6543'), { host: 'db.example.com', port: 6543 });
    assert.deepEqual(parseDbHost('10.0.0.5:5433'), { host: '10.0.0.5', port: 5433 });
    assert.deepEqual(parseDbHost('fd00::5'), { host: 'fd00::5', port: 5432 });
    assert.deepEqual(parseDbHost('[fd00::5]:5433'), { host: 'fd00::5', port: 5433 });
    assert.equal(formatDbHost({ host: 'fd00::5', port: 5433 }), '[fd00::5]:5433');
    for (const bad of ['', 'db.example.com:x', 'db.example.com:70000', '[nope]:5', 'a b', 'host:1:2:z', 'bad_host']) {
      assert.throws(() => parseDbHost(bad), InvalidField, bad);
    }
  });

  it('writes the seed statements with quoted identifiers and password', () => {
    const steps = provisioningSteps({ dbName: 'ex"ample', dbUser: "o'user", dbPassword: "pa'ss\\word" }).map((s) => s.sql);
    assert.deepEqual(steps, [
      `CREATE DATABASE "ex""ample" ENCODING 'UTF8'`,
      `CREATE USER "o'user"`,
      `ALTER USER "o'user" WITH PASSWORD  E'pa''ss\\\\word'`,
      `GRANT ALL PRIVILEGES ON DATABASE "ex""ample" TO "o'user"`,
      `ALTER DATABASE "ex""ample" OWNER TO "o'user"`,
      `REVOKE CONNECT ON DATABASE "ex""ample" FROM public`,
    ]);
  });
});

describe('SQL quoting against PostgreSQL', () => {
  it('reads back any string as the literal and identifier it was quoted from', async () => {
    const cluster = await testCluster();
    const sql = connect({ socketDir: cluster.socketDir, port: cluster.port, database: 'postgres', max: 1 });
    try {
      for (const conforming of ['on', 'off']) {
        await sql.unsafe(`SET standard_conforming_strings = ${conforming}`);
        await fc.assert(
          fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0')), async (s) => {
            const [row] = await sql.unsafe(`SELECT ${quoteLiteral(s)}::text AS v`);
            assert.equal(row!.v, s);
          }),
          { numRuns: 150 },
        );
      }
      await fc.assert(
        fc.asyncProperty(fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0')), async (s) => {
          // An identifier that is data: a column alias comes back as written.
          const rows = await sql.unsafe(`SELECT 1 AS ${quoteIdent(s)}`);
          // The column's name as PostgreSQL reports it (an object key would mangle "__proto__").
          assert.deepEqual(rows.columns.map((c) => c.name), [s]);
        }),
        { numRuns: 150 },
      );
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
