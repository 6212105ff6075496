// The instance lifecycle against a real PostgreSQL: provisioning as the seed
// writes it, confinement of each instance's user, cuts at every statement,
// passwords, deletion, and an external database host on a loopback TCP port.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import postgres, { type Sql } from 'postgres';
import { findPgBin, migrate, MIGRATIONS, startCluster, type Cluster } from '../../src/db';
import { ApError } from '../../src/errors';
import { Instances, provisionDatabase, validateCreate, type InstanceServices } from '../../src/instances';
import { createLogger } from '../../src/log';
import { RouteTable } from '../../src/webserver';
import { createTestDatabase, stopTestCluster, testCluster, type TestCluster, type TestDatabase } from '../harness/pg';
import { workspace } from '../harness/workspace';

const log = createLogger({ level: 'error', file: null });
let cluster: TestCluster;
let db: TestDatabase;
let sent: { service: string; message: Record<string, unknown> }[];
let closed: string[];
let running: Set<string>;
let cleanup: (() => Promise<void>)[];

const services: InstanceServices = {
  installed: (s) => s === 'echo',
  running: (s) => running.has(s),
  control: (service, message) => {
    if (!running.has(service)) return false;
    sent.push({ service, message });
    return true;
  },
};

/** A domain no other test (file) uses: roles are cluster-wide. */
const domain = () => `t${randomBytes(4).toString('hex')}.example`;

/** The webserver's table of what `instances` publish now. */
const table = (instances: Instances) => new RouteTable(instances.routes);

async function open(declared = [] as Parameters<typeof Instances.open>[1]): Promise<Instances> {
  return Instances.open(
    {
      sql: db.sql,
      cluster: { socketDir: cluster.socketDir, port: cluster.port },
      services,
      log,
      checkRoutes: (list) => void new RouteTable(list),
      closeConnections: (id) => void closed.push(id),
    },
    declared,
  );
}

/** Connects as `user` to `database` over the Unix socket with a password. */
async function canConnect(database: string, user: string, password: string): Promise<true | string> {
  const sql = postgres({ host: cluster.socketDir, port: cluster.port, database, username: user, password, max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`SELECT 1`;
    return true;
  } catch (err) {
    return (err as { code?: string }).code ?? (err as Error).message;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function dropLeftovers(sql: Sql, names: { dbName: string; dbUser: string }[]): Promise<void> {
  for (const n of names) {
    await sql.unsafe(`DROP DATABASE IF EXISTS "${n.dbName.replace(/"/g, '""')}" WITH (FORCE)`);
    await sql.unsafe(`DROP ROLE IF EXISTS "${n.dbUser.replace(/"/g, '""')}"`);
  }
}

before(async () => {
  cluster = await testCluster();
});
beforeEach(async () => {
  db = await createTestDatabase();
  await migrate(db.sql, MIGRATIONS, log);
  sent = [];
  closed = [];
  running = new Set(['echo']);
  cleanup = [];
});
afterEach(async () => {
  const rows = await db.sql<{ db_name: string; db_user: string }[]>`SELECT db_name, db_user FROM instances`;
  await dropLeftovers(db.sql, rows.map((r) => ({ dbName: r.db_name, dbUser: r.db_user })));
  for (const fn of cleanup) await fn();
  await db.drop();
});
after(() => stopTestCluster());

describe('instances', () => {
  it('creates the database as the seed does: UTF8, owned by its user, closed to public', async () => {
    const instances = await open();
    const d = domain();
    const inst = await instances.create({ service: 'echo', name: 'app', domain: d });
    assert.equal(inst.phase, 'ready');
    const [info] = await db.sql<{ encoding: string; owner: string; publicConnect: boolean; ownerConnect: boolean }[]>`
      SELECT pg_encoding_to_char(encoding) AS encoding, pg_get_userbyid(datdba) AS owner,
             has_database_privilege('public', datname, 'CONNECT') AS "publicConnect",
             has_database_privilege(pg_get_userbyid(datdba), datname, 'CONNECT') AS "ownerConnect"
      FROM pg_database WHERE datname = ${`${d}_app`}`;
    assert.deepEqual(info, { encoding: 'UTF8', owner: `${d}_app`, publicConnect: false, ownerConnect: true });
    // Route and service: registered and told. The route is published as plain data (the webserver builds its table).
    assert.equal(table(instances).match(`/${d}/app/x`)?.instance, `app@${d}`);
    assert.deepEqual(
      instances.routes.filter((r) => r.instance === `app@${d}`),
      [{ prefix: `/${d}/app`, instance: `app@${d}`, service: 'echo', maxBodyBytes: null, domain: d, password: inst.password }],
    );
    const start = sent.find((s) => s.message.type === 'instance.start')!.message;
    assert.deepEqual(start.database, { host: cluster.socketDir, port: cluster.port, name: `${d}_app`, user: `${d}_app`, password: inst.dbPassword, sslmode: 'disable' });
    assert.equal(start.password, inst.password);
    assert.equal(instances.state(inst), 'running');
  });

  it("confines each instance's user to its own database", async () => {
    const instances = await open();
    const d = domain();
    const a = await instances.create({ service: 'echo', name: 'a', domain: d });
    const b = await instances.create({ service: 'echo', name: 'b', domain: d });
    assert.equal(await canConnect(a.dbName, a.dbUser, a.dbPassword), true);
    assert.equal(await canConnect(b.dbName, b.dbUser, b.dbPassword), true);
    // 42501: insufficient_privilege (no CONNECT); 28P01: wrong password.
    assert.equal(await canConnect(b.dbName, a.dbUser, a.dbPassword), '42501');
    assert.equal(await canConnect(db.name, a.dbUser, a.dbPassword), '42501'); // the manager-schema database of this test
    assert.equal(await canConnect(a.dbName, a.dbUser, 'wrong'), '28P01');
    // And the real manager database of a supervisor is closed to public by migration 2.
    const [m] = await db.sql<{ c: boolean }[]>`SELECT has_database_privilege('public', current_database(), 'CONNECT') AS c`;
    assert.equal(m!.c, false);
  });

  it('quotes names with quotes, spaces and non-ASCII; nothing is injected', async () => {
    const instances = await open();
    const d = domain();
    const victim = await instances.create({ service: 'echo', name: 'victim', domain: d });
    const evilName = `x"; DROP DATABASE "${victim.dbName}"; --`;
    const evilUser = `ü'ser" WITH SUPERUSER; --`;
    const inst = await instances.create({ service: 'echo', name: 'evil', domain: d, dbName: evilName, dbUser: evilUser, dbPassword: `p'w"\\; DROP ROLE x; --` });
    const [row] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_database WHERE datname IN (${evilName}, ${victim.dbName})`;
    assert.equal(row!.n, 2);
    const [role] = await db.sql<{ rolsuper: boolean }[]>`SELECT rolsuper FROM pg_roles WHERE rolname = ${evilUser}`;
    assert.equal(role!.rolsuper, false);
    assert.equal(await canConnect(evilName, evilUser, inst.dbPassword), true);
  });

  it('finishes provisioning cut after any statement when run again', async () => {
    for (let cut = 0; cut < 6; cut++) {
      const inst = validateCreate({ service: 'echo', name: `cut${cut}`, domain: domain() });
      cleanup.push(() => dropLeftovers(db.sql, [inst]));
      await assert.rejects(
        provisionDatabase(db.sql, inst, (i) => {
          if (i === cut) throw new Error('power cut');
        }),
        /power cut/,
      );
      await provisionDatabase(db.sql, inst);
      const [info] = await db.sql<{ owner: string; publicConnect: boolean }[]>`
        SELECT pg_get_userbyid(datdba) AS owner, has_database_privilege('public', datname, 'CONNECT') AS "publicConnect"
        FROM pg_database WHERE datname = ${inst.dbName}`;
      assert.deepEqual(info, { owner: inst.dbUser, publicConnect: false }, `cut after statement ${cut}`);
      assert.equal(await canConnect(inst.dbName, inst.dbUser, inst.dbPassword), true, `cut after statement ${cut}`);
    }
  });

  it('resumes an instance left in provisioning at the next start', async () => {
    const d = domain();
    const inst = validateCreate({ service: 'echo', name: 'half', domain: d });
    // The row was written, then the power went after CREATE DATABASE.
    await db.sql`INSERT INTO instances (name, domain, service, path, password, db_name, db_user, db_password, trace_flags, wanted, phase)
      VALUES (${inst.name}, ${d}, 'echo', ${inst.path}, ${inst.password}, ${inst.dbName}, ${inst.dbUser}, ${inst.dbPassword}, 1, 'running', 'provisioning')`;
    await db.sql.unsafe(`CREATE DATABASE "${inst.dbName}"`);
    const instances = await open();
    assert.equal(instances.get(`half@${d}`).phase, 'ready');
    assert.equal(await canConnect(inst.dbName, inst.dbUser, inst.dbPassword), true);
    assert.ok(table(instances).match(`/${d}/half`));
  });

  it('refuses a database that exists already unless adopted, and keeps its data when adopted', async () => {
    const instances = await open();
    const d = domain();
    const first = await instances.create({ service: 'echo', name: 'app', domain: d });
    const own = postgres({ host: cluster.socketDir, port: cluster.port, database: first.dbName, username: first.dbUser, password: first.dbPassword, max: 1, onnotice: () => {} });
    await own`CREATE TABLE kept (v text)`;
    await own`INSERT INTO kept VALUES ('data')`;
    await own.end({ timeout: 1 });
    await instances.delete(`app@${d}`); // database kept
    assert.deepEqual(instances.list(), []);
    await assert.rejects(instances.create({ service: 'echo', name: 'app', domain: d }), (err: ApError) => err.code === 'DATABASE_EXISTS' && /adopt/.test(err.message));
    const again = await instances.create({ service: 'echo', name: 'app', domain: d }, { adoptDatabase: true });
    const sql = postgres({ host: cluster.socketDir, port: cluster.port, database: again.dbName, username: again.dbUser, password: again.dbPassword, max: 1, onnotice: () => {} });
    assert.deepEqual([...(await sql`SELECT v FROM kept`)], [{ v: 'data' }]);
    await sql.end({ timeout: 1 });
    // The old password is gone with the new instance's.
    assert.equal(await canConnect(again.dbName, again.dbUser, first.dbPassword), '28P01');
  });

  it('refuses duplicates: id, path, database name, user; nothing is created', async () => {
    const instances = await open();
    const d = domain();
    await instances.create({ service: 'echo', name: 'one', domain: d });
    await assert.rejects(instances.create({ service: 'echo', name: 'one', domain: d }), /exists already/);
    await assert.rejects(instances.create({ service: 'echo', name: 'two', domain: d, path: `/${d}/one` }), /path: .* another instance/);
    await assert.rejects(instances.create({ service: 'echo', name: 'three', domain: d, dbName: `${d}_one`, dbUser: 'fresh3' }), /dbName: .* another instance|DATABASE|exists/);
    await assert.rejects(instances.create({ service: 'echo', name: 'four', domain: d, dbUser: `${d}_one` }), /dbUser: .* another instance|exists/);
    await assert.rejects(instances.create({ service: 'nope', name: 'five', domain: d }, { requireInstalled: true }), /service nope is not installed/);
    assert.deepEqual(
      instances.list().map((i) => i.name),
      ['one'],
    );
    const [n] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE ${`${d}%`}`;
    assert.equal(n!.n, 1);
  });

  it('stops, starts, moves the path live and tells the service', async () => {
    const instances = await open();
    const d = domain();
    await instances.create({ service: 'echo', name: 'app', domain: d });
    sent = [];
    await instances.stopInstance(`app@${d}`);
    assert.equal(table(instances).match(`/${d}/app`), null);
    assert.deepEqual(sent.map((s) => s.message.type), ['instance.stop']);
    assert.deepEqual(closed, [`app@${d}`]);
    await instances.startInstance(`app@${d}`);
    assert.ok(table(instances).match(`/${d}/app`));
    sent = [];
    const moved = await instances.edit(`app@${d}`, { path: `/${d}/moved` });
    assert.equal(moved.path, `/${d}/moved`);
    assert.equal(table(instances).match(`/${d}/app`), null);
    assert.equal(table(instances).match(`/${d}/moved/x`)?.instance, `app@${d}`);
    assert.deepEqual(sent.map((s) => [s.message.type, s.message.path]), [['instance.config', `/${d}/moved`]]);
    // A stopped service hears nothing, and the instance waits for it.
    running.delete('echo');
    assert.equal(instances.state(moved), 'waiting');
    // Survives a restart of the supervisor (a new Instances on the same database).
    const reopened = await open();
    assert.equal(reopened.get(`app@${d}`).path, `/${d}/moved`);
    running.add('echo');
    assert.deepEqual(
      reopened.startMessages('echo').map((m) => m.name),
      ['app'],
    );
  });

  it('changes the instance password for new logins and the database password atomically', async () => {
    const instances = await open();
    const d = domain();
    const inst = await instances.create({ service: 'echo', name: 'app', domain: d, password: 'old-pw' });
    assert.equal(table(instances).match(`/${d}/app`)?.password, 'old-pw');
    await instances.edit(`app@${d}`, { password: 'new-pw' });
    assert.equal(table(instances).match(`/${d}/app`)?.password, 'new-pw');
    const regenerated = await instances.edit(`app@${d}`, {}, { newPassword: true, newDbPassword: true });
    assert.notEqual(regenerated.password, 'new-pw');
    assert.notEqual(regenerated.dbPassword, inst.dbPassword);
    assert.equal(await canConnect(inst.dbName, inst.dbUser, inst.dbPassword), '28P01');
    assert.equal(await canConnect(inst.dbName, inst.dbUser, regenerated.dbPassword), true);
    const [row] = await db.sql<{ db_password: string }[]>`SELECT db_password FROM instances WHERE domain = ${d}`;
    assert.equal(row!.db_password, regenerated.dbPassword);
    const config = sent.filter((s) => s.message.type === 'instance.config').at(-1)!.message;
    assert.equal((config.database as { password: string }).password, regenerated.dbPassword);
  });

  it('keeps the role and the stored password in step when the change fails halfway', async () => {
    const instances = await open();
    const d = domain();
    const inst = await instances.create({ service: 'echo', name: 'app', domain: d });
    // The role vanishes behind our back: ALTER ROLE fails, so the stored password must not change either.
    await db.sql.unsafe(`DROP OWNED BY "${inst.dbUser}"`);
    await db.sql.unsafe(`ALTER DATABASE "${inst.dbName}" OWNER TO postgres`);
    await db.sql.unsafe(`DROP ROLE "${inst.dbUser}"`);
    await assert.rejects(instances.edit(`app@${d}`, { dbPassword: 'another-password' }));
    const [row] = await db.sql<{ db_password: string }[]>`SELECT db_password FROM instances WHERE domain = ${d}`;
    assert.equal(row!.db_password, inst.dbPassword);
    assert.equal(instances.get(`app@${d}`).dbPassword, inst.dbPassword);
  });

  it('deletes; drops the database and user only when asked', async () => {
    const instances = await open();
    const d = domain();
    const keep = await instances.create({ service: 'echo', name: 'keep', domain: d });
    const drop = await instances.create({ service: 'echo', name: 'drop', domain: d });
    await instances.delete(`keep@${d}`);
    await instances.delete(`drop@${d}`, { dropDatabase: true });
    assert.deepEqual(instances.list(), []);
    const dbs = await db.sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname IN (${keep.dbName}, ${drop.dbName})`;
    assert.deepEqual(dbs.map((r) => r.datname), [keep.dbName]);
    const roles = await db.sql<{ rolname: string }[]>`SELECT rolname FROM pg_roles WHERE rolname IN (${keep.dbUser}, ${drop.dbUser})`;
    assert.deepEqual(roles.map((r) => r.rolname), [keep.dbUser]);
    await dropLeftovers(db.sql, [keep]);
  });

  it('creates declared instances that are missing, once', async () => {
    const d = domain();
    const declared = [{ service: 'echo', name: 'cfg', domain: d, password: 'from-config' }];
    const first = await open(declared);
    assert.equal(first.get(`cfg@${d}`).password, 'from-config');
    await first.edit(`cfg@${d}`, { password: 'edited' });
    const second = await open(declared);
    assert.equal(second.get(`cfg@${d}`).password, 'edited'); // the database is the truth once created
  });
});

describe('external database host', () => {
  let external: Cluster;
  let port: number;
  let dir: string;

  before(async () => {
    dir = await workspace('ap-extdb-');
    port = 20000 + (process.pid % 20000);
    external = await startCluster({
      dataDir: join(dir, 'data'),
      socketDir: join(dir, 'run'),
      port,
      bin: findPgBin(process.env.AP_PG_BIN ?? null),
      log,
      settings: { listen_addresses: '127.0.0.1', fsync: 'off' },
    });
    await appendFile(join(dir, 'data/pg_hba.conf'), 'host all all 127.0.0.1/32 scram-sha-256\n');
    const admin = postgres({ host: join(dir, 'run'), port, database: 'postgres', username: 'postgres', max: 1, onnotice: () => {} });
    await admin`SELECT pg_reload_conf()`;
    await admin.unsafe(`CREATE USER extuser WITH PASSWORD 'ext-pw'`);
    await admin.unsafe(`CREATE DATABASE extdb OWNER extuser`);
    await admin.end({ timeout: 1 });
  });
  after(async () => {
    await external?.stop(10_000);
    await rm(dir, { recursive: true, force: true });
  });

  it('checks the external database answers, still creates the local one, and gives the service the external parameters', async () => {
    const instances = await open();
    const d = domain();
    await assert.rejects(
      instances.create({ service: 'echo', name: 'app', domain: d, external: { host: `127.0.0.1:${port}`, name: 'extdb', user: 'extuser', password: 'wrong' } }),
      (err: ApError) => err.code === 'EXTERNAL_DB_UNREACHABLE' && err.message.includes(`127.0.0.1:${port}`),
    );
    assert.deepEqual(instances.list(), []);
    const inst = await instances.create({ service: 'echo', name: 'app', domain: d, external: { host: `127.0.0.1:${port}`, name: 'extdb', user: 'extuser', password: 'ext-pw' } });
    // The seed: the local database is created anyway.
    assert.equal(await canConnect(inst.dbName, inst.dbUser, inst.dbPassword), true);
    const start = sent.find((s) => s.message.type === 'instance.start')!.message;
    assert.deepEqual(start.database, { host: '127.0.0.1', port, name: 'extdb', user: 'extuser', password: 'ext-pw', sslmode: 'prefer' });
    assert.equal(instances.view(inst).external && (instances.view(inst).external as { host: string }).host, `127.0.0.1:${port}`);
    assert.equal(JSON.stringify(instances.view(inst)).includes('ext-pw'), false);
    assert.equal(JSON.stringify(instances.view(inst)).includes(inst.dbPassword), false);
    // Cleared: back to the local database.
    await instances.edit(`app@${d}`, { external: null });
    const config = sent.filter((s) => s.message.type === 'instance.config').at(-1)!.message;
    assert.equal((config.database as { name: string }).name, inst.dbName);
  });
});
