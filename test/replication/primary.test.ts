// A box as replication primary, end to end: the bundled supervisor (managed
// PostgreSQL on a free TCP port, --pg-listen 127.0.0.1) made primary through
// `ap ctl replication`, and PostgreSQL's own clients (pg_basebackup, psql)
// as a standby and an intruder would use them.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sql } from 'postgres';
import { standbyRole } from '../../src/replication';
import { generateSelfSigned } from '../../src/tls';
import { until } from '../harness/http';
import { asSuperuser, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { baseBackup as backupOf, freePort, pgClient, servedFingerprint, tcpOpen } from './clients';

interface Standby {
  name: string;
  password: string;
  role: string;
  slot: string;
  slotExists: boolean;
  active: boolean;
  restartLsn: string | null;
  retainedBytes: number | null;
}
interface Shown {
  mode: string;
  listen: { addresses: string; port: number; active: boolean };
  standbys: Standby[];
}

let dir: string;
let root: string;
let run: Run;
let pgPort: number;

const serve = () => runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--pg-listen', '127.0.0.1', '--db-port', String(pgPort)]);
const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
/** An `ap ctl` that must fail: the API's error. */
const ctlError = (...args: string[]): { code: string; message: string; field?: string } => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.notEqual(result.status, 0, `ap ctl ${args.join(' ')} should fail: ${result.stdout}`);
  return JSON.parse(result.stdout).error;
};
const show = (): Shown => ctl('replication', 'show');
const baseBackup = (s: Pick<Standby, 'role' | 'slot'>, password: string, sslmode: string) => backupOf(dir, pgPort, s, password, sslmode);
const superuser = <T>(fn: (sql: Sql) => Promise<T>) => asSuperuser(root, 'postgres', fn);

const ourRoles = () => superuser(async (sql) => (await sql<{ rolname: string }[]>`SELECT rolname FROM pg_roles WHERE starts_with(rolname, 'ap_standby_') ORDER BY 1`).map((r) => r.rolname));
const ourSlots = () => superuser(async (sql) => (await sql<{ slot_name: string }[]>`SELECT slot_name FROM pg_replication_slots ORDER BY 1`).map((r) => r.slot_name));

describe('replication: a primary', () => {
  let first: Standby;

  before(async () => {
    dir = await workspace('ap-repl-');
    root = await rootWithConfig(dir, {});
    pgPort = await freePort();
    run = serve();
    await readyPorts(run);
  });

  after(async () => {
    if (run) await ensureStopped(run);
    await rm(dir, { recursive: true, force: true });
  });

  it('is off at first: PostgreSQL has no TCP port, and standbys are refused until it is primary', async () => {
    const state = show();
    assert.equal(state.mode, 'off');
    assert.equal(state.listen.active, false);
    assert.equal(await tcpOpen(pgPort), false);
    assert.equal(ctlError('replication', 'add', 'standby1.example.com').code, 'NOT_PRIMARY');
    // Standby needs its primary, name and password (standby.test.ts): refused before anything happens.
    const standby = ctlError('replication', 'mode', 'standby');
    assert.equal(standby.code, 'INVALID_FIELD');
    assert.equal(standby.field, 'primary');
    assert.equal(show().mode, 'off');
    // The settings route stores without applying: the mode is not set there.
    assert.equal(ctlError('setting', 'set', 'replicationMode', 'primary').code, 'INVALID_FIELD');
    assert.equal(show().mode, 'off');
  });

  it('refuses to go primary while another program holds the port, changing nothing', async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(pgPort, '127.0.0.1', resolve));
    try {
      const refused = ctlError('replication', 'mode', 'primary');
      assert.equal(refused.code, 'PORT_IN_USE');
      assert.match(refused.message, new RegExp(`port ${pgPort} is in use on 127\\.0\\.0\\.1`));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    assert.equal(show().mode, 'off');
    assert.equal(show().listen.active, false);
    assert.equal(existsSync(join(root, 'mnt/sda2/pgsql/replication.conf')), false);
  });

  it('primary: listens on TCP; a standby gets a password, a LOGIN REPLICATION role with nothing else and a slot', async () => {
    const state = ctl('replication', 'mode', 'primary') as Shown;
    assert.equal(state.mode, 'primary');
    assert.deepEqual(state.listen, { addresses: '127.0.0.1', port: pgPort, active: true });
    assert.equal(await tcpOpen(pgPort), true);
    first = ctl('replication', 'add', 'Standby1.Example.com');
    assert.equal(first.name, 'standby1.example.com');
    assert.match(first.password, /^[A-HJ-NP-Za-km-z2-9]{28}$/);
    assert.equal(first.role, standbyRole('standby1.example.com'));
    assert.equal(first.slot, first.role);
    assert.equal(first.slotExists, true);
    assert.ok(first.restartLsn !== null, 'the slot reserves WAL from its creation');
    const role = await superuser(async (sql) => {
      const [r] = await sql`
        SELECT rolcanlogin, rolreplication, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolpassword LIKE 'SCRAM-SHA-256$%' AS scram,
               (SELECT count(*)::int FROM pg_auth_members m WHERE m.member = a.oid) AS memberships
          FROM pg_authid a WHERE rolname = ${first.role}`;
      return r;
    });
    assert.deepEqual({ ...role }, { rolcanlogin: true, rolreplication: true, rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolbypassrls: false, scram: true, memberships: 0 });
    assert.deepEqual(show().standbys.map((s) => s.name), ['standby1.example.com']);
    const text = runApSync(['ctl', 'replication', '--root', root]).stdout;
    assert.match(text, /^mode: +primary\nlisten: +127\.0\.0\.1 port \d+, TLS only\nstandbys: 1 of at most 8\n {2}standby1\.example\.com {2}password [A-Za-z0-9]{28} {2}role\/slot ap_standby_[0-9a-f]{16} {2}not connected, keeps \d+ KB of WAL\n$/);
  });

  it('serves pg_basebackup over TLS with the standby role, its password and its slot', async () => {
    const copy = await baseBackup(first, first.password, 'require');
    assert.equal(copy.code, 0, copy.stderr);
    assert.match(await readFile(join(copy.dir, 'PG_VERSION'), 'utf8'), /^\d+\n$/);
    await rm(copy.dir, { recursive: true, force: true });
  });

  it("serves the webserver's certificate over TLS, and a new one as soon as it is uploaded", async () => {
    assert.equal(await servedFingerprint(pgPort), ctl('cert', 'show').fingerprint256);
    const made = generateSelfSigned(['primary.example.com']);
    const file = join(dir, 'new-certificate.pem');
    await writeFile(file, made.certPem + made.keyPem);
    const installed = ctl('cert', 'install', file);
    assert.equal(await servedFingerprint(pgPort), installed.fingerprint256);
    assert.equal(installed.fingerprint256, new X509Certificate(made.certPem).fingerprint256);
    // The standby's connection works with the new pair.
    const copy = await baseBackup(first, first.password, 'require');
    assert.equal(copy.code, 0, copy.stderr);
    await rm(copy.dir, { recursive: true, force: true });
  });

  it('refuses a replication connection without TLS, and one with a wrong password', async () => {
    const plain = await baseBackup(first, first.password, 'disable');
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /no pg_hba\.conf entry for replication connection from host "127\.0\.0\.1", user "ap_standby_[0-9a-f]{16}", no encryption/);
    const wrong = await baseBackup(first, `${first.password}x`, 'require');
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /password authentication failed for user "ap_standby_/);
    assert.equal(existsSync(join(wrong.dir, 'PG_VERSION')), false);
  });

  it('does not let the standby role read a table: refused by pg_hba.conf over TCP (no line but replication) and on the socket (reject)', async () => {
    const { db } = ctl('status') as { db: { socketDir: string } };
    const query = ['-X', '-c', 'SELECT count(*) FROM replication_standbys'];
    const tcp = await pgClient('psql', ['-d', `host=127.0.0.1 port=${pgPort} user=${first.role} dbname=manager sslmode=require`, ...query], first.password);
    assert.notEqual(tcp.code, 0);
    assert.match(tcp.stderr, /no pg_hba\.conf entry for host "127\.0\.0\.1", user "ap_standby_[0-9a-f]{16}", database "manager", SSL encryption/);
    const socket = await pgClient('psql', ['-d', `host=${db.socketDir} port=${pgPort} user=${first.role} dbname=manager`, ...query], first.password);
    assert.notEqual(socket.code, 0);
    assert.match(socket.stderr, /pg_hba\.conf rejects connection for host "\[local\]", user "ap_standby_[0-9a-f]{16}", database "manager"/);
    assert.equal(tcp.stdout + socket.stdout, '', 'no row was answered');
  });

  it('keeps WAL in the slot while nothing streams: restart_lsn stays, the bytes kept grow with writes', async () => {
    // pg_basebackup has ended; its walsender lets go of the slot a moment later.
    const before = await until('the slot free', async () => show().standbys.find((s) => s.name === first.name && !s.active));
    await superuser(async (sql) => {
      await sql`CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g`;
      await sql`DROP TABLE filler`;
      await sql`CHECKPOINT`;
    });
    const later = show().standbys.find((s) => s.name === first.name)!;
    assert.equal(later.restartLsn, before.restartLsn);
    assert.ok(later.retainedBytes! > before.retainedBytes! + 2_000_000, `kept ${before.retainedBytes} then ${later.retainedBytes} bytes`);
  });

  it('refuses a duplicate name (whatever its case), a name that is not a domain name, and a ninth standby, changing nothing', async () => {
    const dup = ctlError('replication', 'add', 'STANDBY1.example.COM');
    assert.equal(dup.code, 'STANDBY_EXISTS');
    const bad = ctlError('replication', 'add', 'not_a domain');
    assert.equal(bad.code, 'INVALID_FIELD');
    assert.equal(bad.field, 'name');
    assert.deepEqual(await ourRoles(), [first.role]);
    for (let i = 2; i <= 8; i++) ctl('replication', 'add', `standby${i}.example.com`);
    const eight = show().standbys;
    assert.equal(eight.length, 8);
    const ninth = ctlError('replication', 'add', 'standby9.example.com');
    assert.equal(ninth.code, 'STANDBY_LIMIT');
    assert.deepEqual(show().standbys.map((s) => s.name), eight.map((s) => s.name));
    assert.deepEqual(await ourRoles(), eight.map((s) => s.role).sort());
    assert.deepEqual(await ourSlots(), eight.map((s) => s.slot).sort());
    assert.equal((await ourRoles()).includes(standbyRole('standby9.example.com')), false);
  });

  it('removes a standby with its role, its slot and its pg_hba.conf lines', async () => {
    const gone = standbyRole('standby8.example.com');
    assert.match(await readFile(join(root, 'mnt/sda2/pgsql/pg_hba.conf'), 'utf8'), new RegExp(gone));
    assert.deepEqual(ctl('replication', 'remove', 'Standby8.example.com'), { removed: 'standby8.example.com' });
    assert.equal((await ourRoles()).includes(gone), false);
    assert.equal((await ourSlots()).includes(gone), false);
    assert.doesNotMatch(await readFile(join(root, 'mnt/sda2/pgsql/pg_hba.conf'), 'utf8'), new RegExp(gone));
    assert.equal(show().standbys.length, 7);
    assert.equal(ctlError('replication', 'remove', 'standby8.example.com').code, 'NOT_FOUND');
  });

  it('repairs at start what is missing or left over: a slot, a role, a stray role', async () => {
    const [, second, third] = show().standbys;
    const stray = 'ap_standby_0000000000000000';
    await superuser(async (sql) => {
      await sql`SELECT pg_drop_replication_slot(${second!.slot})`;
      await sql.unsafe(`DROP ROLE ${third!.role}`);
      await sql.unsafe(`CREATE ROLE ${stray} LOGIN REPLICATION`);
    });
    run.child.kill('SIGTERM');
    await run.exited;
    run = serve();
    await readyPorts(run);
    const roles = await ourRoles();
    assert.ok(roles.includes(third!.role) && !roles.includes(stray), roles.join(', '));
    assert.ok((await ourSlots()).includes(second!.slot));
    assert.equal(show().listen.active, true);
    assert.equal(await tcpOpen(pgPort), true);
  });

  it('off: needs confirming while there are standbys; then the TCP port is closed, roles and slots go, the entries stay', async () => {
    assert.equal(ctlError('replication', 'mode', 'off').code, 'CONFIRM_REQUIRED');
    assert.equal(show().mode, 'primary');
    assert.equal(await tcpOpen(pgPort), true);
    const state = ctl('replication', 'mode', 'off', '--yes') as Shown;
    assert.equal(state.mode, 'off');
    assert.equal(state.listen.active, false);
    assert.equal(await tcpOpen(pgPort), false);
    assert.deepEqual(await ourRoles(), []);
    assert.deepEqual(await ourSlots(), []);
    assert.equal(state.standbys.length, 7);
    assert.ok(state.standbys.every((s) => !s.slotExists));
  });

  it('primary again: the kept standbys get their roles and slots back, with the same passwords', async () => {
    ctl('replication', 'mode', 'primary');
    const copy = await baseBackup(first, first.password, 'require');
    assert.equal(copy.code, 0, copy.stderr);
    assert.equal((await ourSlots()).length, 7);
  });
});
