import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { currentVersion, migrate, MIGRATIONS, type Migration } from '../../src/db';
import { ApError } from '../../src/errors';
import { createLogger } from '../../src/log';
import { createTestDatabase, stopTestCluster, type TestDatabase } from '../harness/pg';

const log = createLogger({ level: 'error', file: null });
let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase();
});
afterEach(() => db.drop());
after(() => stopTestCluster());

async function tables(): Promise<string[]> {
  const rows = await db.sql<{ table_name: string }[]>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`;
  return rows.map((r) => r.table_name);
}

async function columns(table: string): Promise<string[]> {
  const rows = await db.sql<{ column_name: string }[]>`
    SELECT column_name FROM information_schema.columns WHERE table_name = ${table} ORDER BY ordinal_position`;
  return rows.map((r) => r.column_name);
}

describe('migrate', () => {
  it('creates the manager schema with the config table the seed relies on, once', async () => {
    const first = await migrate(db.sql, MIGRATIONS, log);
    assert.equal(first.from, 0);
    assert.equal(first.to, MIGRATIONS.at(-1)!.version);
    assert.deepEqual(await tables(), ['api_tokens', 'config', 'instances', 'package_chunks', 'package_files', 'packages', 'replication_standbys', 'schema_migrations']);
    await db.sql`INSERT INTO config (name, value) VALUES ('webserverCertificate', 'pem')`;
    // The seed's recovery command works as written.
    await db.sql.unsafe(`DELETE FROM config WHERE name='webserverCertificate'`);
    const again = await migrate(db.sql, MIGRATIONS, log);
    assert.deepEqual(again.applied, []);
  });

  it('rolls back a failing migration whole and keeps the previous schema', async () => {
    const good: Migration = { version: 1, name: 'one', up: 'CREATE TABLE one (id int)' };
    await migrate(db.sql, [good], log);
    const broken: Migration[] = [
      good,
      { version: 2, name: 'two', up: 'CREATE TABLE two (id int)' },
      // The first statement would succeed; the second fails: neither may stay.
      { version: 3, name: 'three', up: 'ALTER TABLE one ADD COLUMN extra text; SELECT no_such_function()' },
    ];
    await assert.rejects(
      migrate(db.sql, broken, log),
      (err: unknown) =>
        err instanceof ApError &&
        err.code === 'MIGRATION_FAILED' &&
        /migration 3 \(three\) failed.*schema version 2/.test(err.message) &&
        (err.cause as { code?: string }).code === '42883', // undefined_function
    );
    assert.deepEqual(await columns('one'), ['id']);
    assert.deepEqual(await tables(), ['one', 'schema_migrations', 'two']);
    assert.equal(await currentVersion(db.sql), 2);
  });

  it('refuses a database newer than the code', async () => {
    await migrate(db.sql, [{ version: 1, name: 'a', up: 'SELECT 1' }, { version: 2, name: 'b', up: 'SELECT 1' }], log);
    await assert.rejects(migrate(db.sql, [{ version: 1, name: 'a', up: 'SELECT 1' }], log), (err: unknown) => err instanceof ApError && err.code === 'SCHEMA_TOO_NEW');
  });

  it('refuses migrations out of order before touching the database', async () => {
    await assert.rejects(migrate(db.sql, [{ version: 2, name: 'b', up: 'SELECT 1' }, { version: 1, name: 'a', up: 'SELECT 1' }], log), /out of order/);
    assert.deepEqual(await tables(), []);
  });
});
