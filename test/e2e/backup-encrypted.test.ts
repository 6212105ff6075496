// Encrypted backups end to end (docs/backup.md, "Encrypted backups"): with a
// backup key set, an instance backup written by the running supervisor is no
// pg_dump archive; it restores with the key; `ap ctl backup decrypt` turns it
// into the plain file pg_restore reads, offline, with the exported key or the
// box's key file. Without the key, with another key, and with a flipped byte
// a restore is refused before anything changes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findPgBin, findPgTools } from '../../src/db';
import { clusterState, ctl, ctlInput, dir, job, superuser, withSupervisor } from './tampering';

withSupervisor();

const pgRestoreList = (file: string) => spawnSync(join(findPgTools(findPgBin(null)), 'pg_restore'), ['--list', file], { encoding: 'utf8' });

describe('encrypted backups', () => {
  let database: { name: string; user: string };
  let encrypted: string;
  let exported: string;
  const rows = () => superuser(async (sql) => (await sql<{ id: number; v: string }[]>`SELECT id, v FROM notes ORDER BY id`).map((r) => `${r.id}:${r.v}`), database.name);
  /** What a refused restore must leave as it was: the instances, the cluster's databases and roles, the instance's rows. */
  const everything = async () => ({ instances: ctl('instance', 'list').instances, cluster: await clusterState(), rows: await rows() });

  it('writes a backup no one reads without the key, restores it with the key, and decrypts it for pg_restore', async () => {
    assert.deepEqual(ctl('backup', 'key'), { set: false, fingerprint: null });
    ctl('instance', 'create', 'app@example.com', '--service', 'echo', '--password', 'app-pw');
    database = ctl('instance', 'show', 'app@example.com').database;
    await superuser(async (sql) => {
      await sql.unsafe(`SET ROLE "${database.user}"`);
      await sql.unsafe(`CREATE TABLE notes (id int PRIMARY KEY, v text); INSERT INTO notes VALUES (1, 'one'), (2, 'two')`);
    }, database.name);

    const made = ctl('backup', 'key', 'generate');
    assert.equal(made.set, true);
    assert.match(made.fingerprint, /^[0-9a-f]{4}(-[0-9a-f]{4}){3}$/);
    const keyFile = join(dir, 'root', 'mnt/sda2/backup.key');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    exported = ctl('backup', 'key', 'export').key;
    assert.match(exported, /^apbk1:/);
    assert.equal((await readFile(keyFile, 'utf8')).trim(), exported, "the box's file holds the exported text");

    encrypted = join(dir, 'app.dump.enc');
    const written = job('backup', 'instance', 'app@example.com', '--file', encrypted);
    assert.equal(written.state, 'succeeded', written.message);
    assert.match(written.message, /\(\d+ bytes, encrypted with the backup key\)/);
    const bytes = await readFile(encrypted);
    assert.equal(bytes.subarray(0, 8).toString('latin1'), 'APBKENC1');
    assert.ok(!bytes.includes(Buffer.from('app-pw')), "the instance password in the header is not readable");
    assert.notEqual(pgRestoreList(encrypted).status, 0, 'pg_restore does not read it');

    const verified = job('backup', 'verify', encrypted);
    assert.equal(verified.state, 'succeeded', verified.message);
    assert.match(verified.message, /encrypted with this box's backup key/);
    // The Manager's backup too; its restore test reads the decrypted dump into a scratch database.
    const manager = join(dir, 'manager.dump.enc');
    assert.equal(job('backup', 'manager', '--file', manager).state, 'succeeded');
    assert.equal((await readFile(manager)).subarray(0, 8).toString('latin1'), 'APBKENC1');
    const tested = job('backup', 'verify', manager, '--restore-test');
    assert.equal(tested.state, 'succeeded', tested.message);
    assert.match(tested.message, /a manager backup .*encrypted.*restores completely/);

    await superuser((sql) => sql`INSERT INTO notes VALUES (3, 'after the backup')`, database.name);
    const restored = job('restore', 'instance', encrypted, '--replace', 'app@example.com');
    assert.equal(restored.state, 'succeeded', restored.message);
    assert.deepEqual(await rows(), ['1:one', '2:two']);

    // Offline, with the exported key in a file, on stdin, and with the box's own key file.
    const keyCopy = join(dir, 'kept.key');
    await writeFile(keyCopy, `${exported}\n`);
    const plain = join(dir, 'app.dump');
    const done = job('backup', 'decrypt', encrypted, plain, '--key-file', keyCopy);
    assert.equal((done as unknown as { output: string }).output, plain);
    const list = pgRestoreList(plain);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /TABLE DATA public notes/);
    const again = job('backup', 'decrypt', encrypted, plain, '--key-file', keyCopy) as unknown as { error: { code: string } };
    assert.equal(again.error.code, 'EXISTS', 'an existing output is kept without --force');
    // An output that cannot be a file is told as such (not as an errno), with --force too.
    const folder = job('backup', 'decrypt', encrypted, dir, '--key-file', keyCopy, '--force') as unknown as { error: { code: string; message: string } };
    assert.deepEqual(folder.error, { code: 'EXISTS', message: `${dir} is a folder: give the path of the file to write` });
    const nowhere = join(dir, 'no-such-folder', 'app.dump');
    const missing = job('backup', 'decrypt', encrypted, nowhere, '--key-file', keyCopy) as unknown as { error: { code: string; message: string } };
    assert.deepEqual(missing.error, { code: 'NOT_FOUND', message: `cannot write ${nowhere}: the folder ${join(dir, 'no-such-folder')} does not exist` });
    const fromStdin = ctlInput(exported, 'backup', 'decrypt', encrypted, plain, '--key-stdin', '--force');
    assert.equal(fromStdin.status, 0, fromStdin.stderr);
    const boxKey = join(dir, 'box-key.dump');
    assert.equal(ctlInput('', 'backup', 'decrypt', encrypted, boxKey).status, 0);
    assert.ok((await readFile(boxKey)).equals(await readFile(plain)));
  });

  it('refuses a flipped byte before anything changes, on restore and on decrypt', async () => {
    const bytes = await readFile(encrypted);
    const flipped = join(dir, 'flipped.dump.enc');
    const changed = Buffer.from(bytes);
    changed[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(flipped, changed);
    const before = await everything();
    const restore = job('restore', 'instance', flipped, '--replace', 'app@example.com');
    assert.equal(restore.state, 'failed');
    assert.match(restore.message, /damaged/);
    const out = join(dir, 'flipped.dump');
    const decrypt = job('backup', 'decrypt', flipped, out) as unknown as { error: { code: string } };
    assert.equal(decrypt.error.code, 'BAD_BACKUP');
    await assert.rejects(stat(out), 'no output, not even half of it');
    await assert.rejects(stat(`${out}.part`));
    assert.deepEqual(await everything(), before);
  });

  it('refuses a restore without the key (BACKUP_KEY_MISSING) and with another key (BACKUP_KEY_WRONG), changing nothing', async () => {
    await superuser((sql) => sql`INSERT INTO notes VALUES (4, 'not restored over')`, database.name);
    const unconfirmed = ctlInput('', 'backup', 'key', 'remove');
    assert.notEqual(unconfirmed.status, 0);
    assert.equal(JSON.parse(unconfirmed.stdout).error.code, 'CONFIRM_REQUIRED');
    assert.deepEqual(ctl('backup', 'key', 'remove', '--yes'), { set: false, fingerprint: null });
    const before = await everything();
    const missing = job('restore', 'instance', encrypted, '--replace', 'app@example.com') as unknown as { error: { code: string; message: string } };
    assert.equal(missing.error.code, 'BACKUP_KEY_MISSING');
    assert.match(missing.error.message, /import its key first/);
    assert.equal((job('backup', 'verify', encrypted) as unknown as { error: { code: string } }).error.code, 'BACKUP_KEY_MISSING');

    ctl('backup', 'key', 'generate');
    const wrong = job('restore', 'instance', encrypted, '--replace', 'app@example.com') as unknown as { error: { code: string } };
    assert.equal(wrong.error.code, 'BACKUP_KEY_WRONG');
    const stranger = join(dir, 'stranger.key');
    await writeFile(stranger, ctl('backup', 'key', 'export').key);
    assert.equal((job('backup', 'decrypt', encrypted, join(dir, 'x.dump'), '--key-file', stranger) as unknown as { error: { code: string } }).error.code, 'BACKUP_KEY_WRONG');
    assert.deepEqual(await everything(), before);

    // The exported key brings it back: a typo in it is refused, the key itself is taken.
    ctl('backup', 'key', 'remove', '--yes');
    const typo = exported.slice(0, 20) + (exported[20] === 'x' ? 'y' : 'x') + exported.slice(21);
    assert.equal(JSON.parse(ctlInput(typo, 'backup', 'key', 'import').stdout).error.code, 'BAD_KEY');
    assert.equal(JSON.parse(ctlInput(exported, 'backup', 'key', 'import').stdout).set, true);
    const restored = job('restore', 'instance', encrypted, '--replace', 'app@example.com');
    assert.equal(restored.state, 'succeeded', restored.message);
    assert.deepEqual(await rows(), ['1:one', '2:two']);
  });
});
