// The second line of defence: even a dump whose tricks the checks missed runs
// with no rights when pg_restore logs in as a restore's own role.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import postgres from 'postgres';
import { pgDump, pgRestore } from '../../src/backup/pg';
import { createRestoreRole, dropScratch, handOver } from '../../src/backup/restore';
import { connect, findPgBin, findPgTools } from '../../src/db';
import { ApError } from '../../src/errors';
import { createTestDatabase, stopTestCluster, testCluster } from '../harness/pg';

after(() => stopTestCluster());

const exists = (path: string) => stat(path).then(() => true, () => false);

/** A dump whose view definition first runs RESET ROLE and COPY … TO PROGRAM (see test/e2e/backup-tampered.test.ts). */
async function craftedDump(tools: string, host: string, port: number, database: string, marker: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of pgDump(tools, { host, port, user: 'postgres' }, database)) chunks.push(chunk);
  const dump = Buffer.concat(chunks);
  const at = dump.indexOf('CREATE VIEW public.v AS');
  assert.ok(at > 5 && dump[at - 5] === 0);
  const length = dump.readUInt32LE(at - 4);
  const text = Buffer.concat([Buffer.from(`RESET ROLE; COPY (SELECT 1) TO PROGRAM 'touch ${marker}'; `), dump.subarray(at, at + length)]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(text.length);
  return Buffer.concat([dump.subarray(0, at - 4), size, text, dump.subarray(at + length)]);
}

describe('the restore role', () => {
  it('cannot run what a tampered dump asks for, where the superuser with --role could', async () => {
    const cluster = await testCluster();
    const tools = findPgTools(findPgBin(process.env.AP_PG_BIN ?? null));
    const source = await createTestDatabase();
    const admin = connect({ socketDir: cluster.socketDir, port: cluster.port, database: 'postgres', max: 1 });
    const marker = join(tmpdir(), `ap-restore-role-${randomBytes(6).toString('hex')}`);
    const name = `ap_restore_${randomBytes(6).toString('hex')}`;
    const old = `ap_old_${randomBytes(6).toString('hex')}`;
    try {
      await source.sql`CREATE VIEW v AS SELECT 1 AS x`;
      const dump = await craftedDump(tools, cluster.socketDir, cluster.port, source.name, marker);

      const role = await createRestoreRole(admin, cluster, name);
      await admin.unsafe(`CREATE DATABASE "${name}" OWNER "${name}"`);
      const args = ['--exit-on-error', '--single-transaction', '--no-owner', '--no-acl', '-d', name];
      await assert.rejects(pgRestore(tools, role, args, Readable.from([dump])), (err: unknown) => {
        assert.ok(err instanceof ApError && err.code === 'RESTORE_FAILED');
        assert.match(err.message, /permission denied|must be superuser|pg_execute_server_program/);
        return true;
      });
      assert.equal(await exists(marker), false, 'the program did not run');
      await dropScratch(admin, name);
      const left = await admin`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ${name}`;
      assert.equal(left[0]!.n, 0);

      // The way restores ran before: as the superuser, with --role. The same dump runs its program.
      await admin.unsafe(`CREATE ROLE "${old}"`);
      await admin.unsafe(`CREATE DATABASE "${old}" OWNER "${old}"`);
      await pgRestore(tools, { host: cluster.socketDir, port: cluster.port, user: 'postgres' }, ['--exit-on-error', '--single-transaction', '--no-owner', '--no-acl', '--role', old, '-d', old], Readable.from([dump]));
      assert.equal(await exists(marker), true, 'the superuser with --role ran it: the dump is a real attack');
    } finally {
      await dropScratch(admin, name).catch(() => {});
      await dropScratch(admin, old).catch(() => {});
      await admin.end({ timeout: 1 });
      await source.drop();
      await rm(marker, { force: true });
    }
  });

  it('hands everything over to the instance user, and takes back settings the restore role put on its database', async () => {
    const cluster = await testCluster();
    const admin = connect({ socketDir: cluster.socketDir, port: cluster.port, database: 'postgres', max: 1 });
    const name = `ap_restore_${randomBytes(6).toString('hex')}`;
    const owner = `ap_owner_${randomBytes(6).toString('hex')}`;
    try {
      const role = await createRestoreRole(admin, cluster, name);
      await admin.unsafe(`CREATE DATABASE "${name}" OWNER "${name}"`);
      await admin.unsafe(`CREATE ROLE "${owner}"`);
      const asRole = postgres({ host: cluster.socketDir, port: cluster.port, database: name, username: name, password: role.password, max: 1, onnotice: () => {} });
      try {
        await asRole.unsafe(`CREATE TABLE t (a int); CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'; ALTER DATABASE "${name}" SET search_path = evil, public`);
      } finally {
        await asRole.end({ timeout: 1 });
      }
      const db = connect({ socketDir: cluster.socketDir, port: cluster.port, database: name, max: 1 });
      try {
        await handOver(db, name, owner);
        const [seen] = await db<{ table: string; fn: string; database: string; settings: number }[]>`
          SELECT (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 't') AS table,
                 (SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'f') AS fn,
                 (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()) AS database,
                 (SELECT count(*)::int FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()) AS settings`;
        assert.deepEqual(seen, { table: owner, fn: owner, database: owner, settings: 0 });
      } finally {
        await db.end({ timeout: 1 });
      }
      await admin.unsafe(`DROP ROLE "${name}"`); // nothing of it is left
    } finally {
      await dropScratch(admin, name).catch(() => {});
      await admin.unsafe(`DROP ROLE IF EXISTS "${owner}"`).catch(() => {});
      await admin.end({ timeout: 1 });
    }
  });
});
