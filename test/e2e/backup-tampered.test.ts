// A backup's checksum proves the file is whole, not who made it: these tests
// take a real instance backup, change the SQL inside the dump the way an
// attacker would (a view definition that first runs RESET ROLE and COPY … TO
// PROGRAM), wrap it again with a recomputed checksum, and show that neither a
// restore nor a restore test runs it; and that an honest backup of an instance
// with every usual kind of object still restores completely. The Manager's
// side is in backup-tampered-manager.test.ts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clusterState, ctl, dir, exists, job, marker, superuser, tamper, withSupervisor } from './tampering';

withSupervisor();

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
    const replace = job('restore', 'instance', craftedRestore, '--replace', 'app@example.com');
    assert.equal(replace.state, 'failed');
    const verify = job('backup', 'verify', crafted);
    assert.equal(verify.state, 'failed', verify.message);
    assert.match(verify.message, /COPY … PROGRAM in VIEW public\.v/);

    assert.equal(await exists(`${marker}-restore`), false, 'the restore did not run the program');
    assert.deepEqual(ctl('instance', 'list').instances, instances);
    assert.deepEqual(await clusterState(), before);
  });
});
