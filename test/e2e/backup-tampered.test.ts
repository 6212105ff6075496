// A backup's checksum proves the file is whole, not who made it: these tests
// take real backups, change the SQL inside the dump the way an attacker would
// (a view or table definition that first runs RESET ROLE and COPY … TO
// PROGRAM), wrap them again with a recomputed checksum, and show that no
// restore, restore test or Manager restore runs it; and that honest backups
// of an instance with every usual kind of object still restore completely.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { backupFile, verifyBackupFile } from '../../src/backup';
import { connect as pgConnect } from '../../src/db';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
/** Where COPY … TO PROGRAM would leave its trace: a folder the postgres OS user may write to. */
let marker: string;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
/** A job run to its end through ap ctl; returns the job, whatever its outcome. */
const job = (...args: string[]) => JSON.parse(runApSync(['ctl', ...args, '--json', '--root', root]).stdout) as { state: string; message: string };

async function superuser<T>(fn: (sql: ReturnType<typeof pgConnect>) => Promise<T>, database = 'postgres'): Promise<T> {
  const status = ctl('status');
  const sql = pgConnect({ socketDir: status.db.socketDir, port: status.db.port, database, max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

/** Databases and roles of the cluster, to show that a refused restore changed nothing and left nothing. */
const clusterState = () =>
  superuser(async (sql) => ({
    databases: (await sql<{ n: string }[]>`SELECT datname AS n FROM pg_database ORDER BY 1`).map((r) => r.n),
    roles: (await sql<{ n: string }[]>`SELECT rolname AS n FROM pg_roles ORDER BY 1`).map((r) => r.n),
  }));

/**
 * Copies backup `from` to `to` with the definition that starts with `start`
 * (a string in the dump's table of contents: a length, then the text)
 * prefixed by `injected`, and the checksum recomputed: what anyone can do.
 */
async function tamper(from: string, to: string, start: string, injected: string): Promise<void> {
  const verified = await verifyBackupFile(from);
  const file = await readFile(from);
  const dump = file.subarray(verified.dumpStart, verified.dumpStart + verified.dumpLength);
  const at = dump.indexOf(Buffer.from(start, 'utf8'));
  assert.ok(at > 5, `the dump holds "${start}"`);
  // pg_dump's custom format writes a string as a sign byte, a 4-byte little-endian length and the bytes.
  assert.equal(dump[at - 5], 0);
  const length = dump.readUInt32LE(at - 4);
  const text = Buffer.concat([Buffer.from(injected, 'utf8'), dump.subarray(at, at + length)]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(text.length);
  const changed = Buffer.concat([dump.subarray(0, at - 4), size, text, dump.subarray(at + length)]);
  const chunks: Buffer[] = [];
  for await (const chunk of backupFile(verified.meta, Readable.from([changed]))) chunks.push(chunk);
  await writeFile(to, Buffer.concat(chunks));
}

before(async () => {
  dir = await workspace('ap-tamper-');
  root = await rootWithConfig(dir, {});
  marker = join(tmpdir(), `ap-tamper-marker-${randomBytes(6).toString('hex')}`);
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  await readyPorts(run);
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
  await until('service running', async () => ((ctl('service', 'list') as { state: string }[])[0]?.state === 'running' ? true : undefined));
});

after(async () => {
  if (run) {
    if (process.env.AP_TEST_DUMP_LOG) await writeFile(process.env.AP_TEST_DUMP_LOG, run.output.text);
    run.child.kill('SIGTERM');
    await ensureStopped(run);
  }
  for (const kind of ['test', 'restore', 'manager']) await rm(`${marker}-${kind}`, { force: true });
  await rm(dir, { recursive: true, force: true });
});

describe('restoring backups nobody can vouch for', () => {
  let honest: string;
  let user: string;

  it('restores an honest backup with tables, views, sequences, functions and triggers completely', async () => {
    ctl('instance', 'create', 'app@example.com', '--service', 'echo', '--password', 'app-pw');
    const shown = ctl('instance', 'show', 'app@example.com');
    user = shown.database.user;
    await superuser(async (sql) => {
      await sql.unsafe(`SET ROLE "${user}"`);
      await sql.unsafe(`
        CREATE SCHEMA extra;
        CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, parent int REFERENCES items(id));
        CREATE TABLE extra.notes (item int REFERENCES items(id), body text);
        CREATE INDEX items_name ON items (name);
        CREATE SEQUENCE tickets START 100;
        CREATE VIEW v AS SELECT id, upper(name) AS shout FROM items;
        CREATE MATERIALIZED VIEW counts AS SELECT count(*) AS n FROM items;
        CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.name := NEW.name || '!'; RETURN NEW; END$$;
        CREATE TRIGGER items_audit BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION audit();
        CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql AS 'SELECT $1 * 2';
        CREATE TYPE mood AS ENUM ('happy', 'sad');
        COMMENT ON TABLE items IS 'the items';
        INSERT INTO items (name) VALUES ('one'), ('two');
        INSERT INTO extra.notes VALUES (1, 'first');
        SELECT nextval('tickets'), nextval('tickets');
        REFRESH MATERIALIZED VIEW counts;`);
    }, shown.database.name);
    honest = join(dir, 'honest.apbk');
    assert.equal(job('backup', 'instance', 'app@example.com', '--file', honest).state, 'succeeded');
    const before = await clusterState();

    const restored = job('restore', 'instance', honest, '--name', 'copy', '--domain', 'example.com');
    assert.equal(restored.state, 'succeeded', restored.message);
    const copy = ctl('instance', 'show', 'copy@example.com');
    const seen = await superuser(async (sql) => {
      await sql.unsafe(`SET ROLE "${copy.database.user}"`); // what the clone's app can do with it
      const [row] = await sql.unsafe(`
        SELECT (SELECT string_agg(shout, ',' ORDER BY id) FROM v) AS view,
               (SELECT body FROM extra.notes) AS note,
               (SELECT n FROM counts) AS counted,
               twice(21) AS twice,
               nextval('tickets') AS ticket,
               'sad'::mood::text AS mood,
               obj_description('items'::regclass) AS comment`);
      await sql.unsafe(`INSERT INTO items (name) VALUES ('three')`); // the trigger came back
      const [added] = await sql.unsafe(`SELECT name, id FROM items WHERE name LIKE 'three%'`);
      await sql.unsafe('RESET ROLE');
      const owners = await sql.unsafe(`
        SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace
         WHERE nspname IN ('public', 'extra')
        UNION SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname IN ('audit', 'twice')
        UNION SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'extra'
        UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()`);
      return { row, added, owners: owners.map((o) => o.owner as string) };
    }, copy.database.name);
    assert.deepEqual(seen.row, { view: 'ONE!,TWO!', note: 'first', counted: '2', twice: 42, ticket: '102', mood: 'sad', comment: 'the items' });
    assert.deepEqual(seen.added, { name: 'three!', id: 3 });
    assert.deepEqual(seen.owners, [copy.database.user]);
    const now = await clusterState();
    assert.deepEqual(now.roles, [...before.roles, copy.database.user].sort());
    assert.deepEqual(now.databases, [...before.databases, copy.database.name].sort());
  });

  it('refuses an instance backup whose view definition runs RESET ROLE and COPY … TO PROGRAM, on restore and on verify', async () => {
    // One file whose program leaves one mark, one whose program leaves another, so each way in is shown on its own.
    const crafted = join(dir, 'crafted.apbk');
    await tamper(honest, crafted, 'CREATE VIEW public.v AS', `RESET ROLE; COPY (SELECT 1) TO PROGRAM 'touch ${marker}-test'; `);
    const craftedRestore = join(dir, 'crafted-restore.apbk');
    await tamper(honest, craftedRestore, 'CREATE VIEW public.v AS', `RESET ROLE; COPY (SELECT 1) TO PROGRAM 'touch ${marker}-restore'; `);
    const instances = ctl('instance', 'list').instances;
    const before = await clusterState();

    const tested = job('backup', 'verify', crafted, '--restore-test');
    assert.equal(await exists(`${marker}-test`), false, 'the restore test did not run the program');
    assert.equal(tested.state, 'failed', tested.message);
    assert.match(tested.message, /COPY … PROGRAM in VIEW public\.v/);
    const clone = job('restore', 'instance', craftedRestore, '--name', 'evil', '--domain', 'example.com');
    assert.equal(await exists(`${marker}-restore`), false, 'the restore did not run the program');
    assert.equal(clone.state, 'failed');
    assert.match(clone.message, /BAD_BACKUP|holds statements a restore never runs/);
    assert.match(clone.message, /SET\/RESET ROLE in VIEW public\.v/);
    assert.match(clone.message, /COPY … PROGRAM in VIEW public\.v/);
    const replace = job('restore', 'instance', craftedRestore, '--replace');
    assert.equal(replace.state, 'failed');
    const verify = job('backup', 'verify', crafted);
    assert.equal(verify.state, 'failed', verify.message);
    assert.match(verify.message, /COPY … PROGRAM in VIEW public\.v/);

    assert.equal(await exists(`${marker}-restore`), false, 'the restore did not run the program');
    assert.deepEqual(ctl('instance', 'list').instances, instances);
    assert.deepEqual(await clusterState(), before);
  });

  it('refuses a Manager backup whose table definition runs COPY … TO PROGRAM, and restores an honest one', async () => {
    const honestManager = join(dir, 'manager.apbk');
    assert.equal(job('backup', 'manager', '--file', honestManager).state, 'succeeded');
    const crafted = join(dir, 'manager-crafted.apbk');
    await tamper(honestManager, crafted, 'CREATE TABLE public.config (', `RESET ROLE; COPY (SELECT 1) TO PROGRAM 'touch ${marker}-manager'; `);
    ctl('setting', 'set', 'timezone', 'Asia/Tokyo');
    const before = await clusterState();

    const restore = job('restore', 'manager', crafted);
    assert.equal(await exists(`${marker}-manager`), false, 'the Manager restore did not run the program');
    assert.equal(restore.state, 'failed');
    assert.match(restore.message, /COPY … PROGRAM in TABLE public\.config/);
    const verify = job('backup', 'verify', crafted, '--restore-test');
    assert.equal(verify.state, 'failed');
    assert.equal(await exists(`${marker}-manager`), false, 'the restore test did not run the program');
    assert.equal(ctl('setting', 'list').settings.timezone.value, 'Asia/Tokyo');
    assert.deepEqual(await clusterState(), before);

    const tested = job('backup', 'verify', honestManager, '--restore-test');
    assert.equal(tested.state, 'succeeded', tested.message);
    const restored = job('restore', 'manager', honestManager);
    assert.equal(restored.state, 'succeeded', restored.message);
    assert.equal(ctl('setting', 'list').settings.timezone.value, 'UTC');
    assert.deepEqual((ctl('instance', 'list').instances as { id: string }[]).map((i) => i.id).sort(), ['app@example.com', 'copy@example.com']);
    assert.deepEqual(await clusterState(), before);
  });
});
