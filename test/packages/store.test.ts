// Packages in the manager database against a real PostgreSQL: a folder goes in
// and comes out byte for byte with its modes, an update is one transaction for
// readers on other connections, a failed write or a damaged row changes nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { migrate, MIGRATIONS } from '../../src/db';
import { byInstaller, CHUNK_BYTES, deletePackage, markByInstaller, readPackage, reconcilePackages, storedPackages, storePackage } from '../../src/packages';
import { silentLogger } from '../harness/log';
import { createTestDatabase, stopTestCluster, type TestDatabase } from '../harness/pg';
import { workspace } from '../harness/workspace';
import { tree } from './tree';

const MAX = 512 * 1024 * 1024;
let dir: string;
let db: TestDatabase;

before(async () => {
  dir = await workspace('ap-packages-');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
  await stopTestCluster();
});
beforeEach(async () => {
  db = await createTestDatabase();
  await migrate(db.sql, MIGRATIONS, silentLogger());
});
afterEach(() => db.drop());

let made = 0;
/** A package folder: app.json, a script, an executable, an empty file, a file of several chunks, an empty folder, a link. */
async function makePackage(version: string, extra: Record<string, string> = {}): Promise<string> {
  const root = join(dir, `pkg-${++made}`);
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'var/empty'), { recursive: true });
  await writeFile(join(root, 'app.json'), JSON.stringify({ name: 'echo', version, label: version.replace(/\./g, ''), entry: ['node', 'service.js'] }));
  await writeFile(join(root, 'service.js'), `// version ${version}\n`);
  await writeFile(join(root, 'bin/run'), '#!/bin/sh\necho run\n');
  await chmod(join(root, 'bin/run'), 0o755);
  await writeFile(join(root, 'empty'), '');
  await chmod(join(root, 'empty'), 0o600);
  await writeFile(join(root, 'big.bin'), randomBytes(5 * CHUNK_BYTES + 123));
  await chmod(join(root, 'var/empty'), 0o700);
  await symlink('service.js', join(root, 'link'));
  for (const [name, text] of Object.entries(extra)) await writeFile(join(root, name), text);
  return root;
}

const pkg = (version: string) => ({ name: 'echo', version, label: version.replace(/\./g, '') });
let outs = 0;
const out = () => join(dir, `out-${++outs}`);

describe('packages in the manager database', () => {
  it('stores every file byte for byte with its mode, in chunks, and reads back the same folder', async () => {
    const source = await makePackage('1.0.0');
    const stored = await storePackage(db.sql, source, pkg('1.0.0'), { maxBytes: MAX });
    assert.deepEqual(await storedPackages(db.sql), [{ service: 'echo', version: '1.0.0', label: '100', files: stored.files, bytes: stored.bytes }]);
    assert.equal(stored.files, Object.keys(await tree(source)).length);
    const chunks = await db.sql<{ n: number; largest: number }[]>`
      SELECT count(*)::int AS n, max(octet_length(bytes))::int AS largest FROM package_chunks WHERE path = 'big.bin'`;
    assert.deepEqual(chunks[0], { n: 6, largest: CHUNK_BYTES });
    const into = out();
    const read = await readPackage(db.sql, 'echo', into, { maxBytes: MAX });
    assert.equal(read?.bytes, stored.bytes);
    assert.deepEqual(await tree(into), await tree(source));
    assert.equal((await tree(into))['bin/run']!.slice(0, 8), 'file 755');
    assert.equal((await tree(into))['var/empty'], 'dir 700');
    assert.equal(await readPackage(db.sql, 'other', out(), { maxBytes: MAX }), null);
  });

  it('replaces a package in one transaction: a reader on another connection sees the old or the new, never a mix', async () => {
    const v1 = await makePackage('1.0.0');
    const v2 = await makePackage('2.0.0', { 'added.txt': 'new in 2' });
    await storePackage(db.sql, v1, pkg('1.0.0'), { maxBytes: MAX });
    // Midway through writing v2, a reader sees v1, whole.
    let during: Record<string, string> | null = null;
    await storePackage(db.sql, v2, pkg('2.0.0'), {
      maxBytes: MAX,
      onBytes: async () => {
        if (during) return;
        const into = out();
        assert.equal((await readPackage(db.sql, 'echo', into, { maxBytes: MAX }))?.version, '1.0.0');
        during = await tree(into);
      },
    });
    assert.deepEqual(during, await tree(v1));
    const after2 = out();
    await readPackage(db.sql, 'echo', after2, { maxBytes: MAX });
    assert.deepEqual(await tree(after2), await tree(v2));
    // A reader that started on v2 keeps reading v2 while v1 is written over it and committed.
    const into = out();
    let replaced = false;
    const read = await readPackage(db.sql, 'echo', into, {
      maxBytes: MAX,
      onBytes: async () => {
        if (replaced) return;
        replaced = true;
        await storePackage(db.sql, v1, pkg('1.0.0'), { maxBytes: MAX });
      },
    });
    assert.ok(replaced);
    assert.equal(read?.version, '2.0.0');
    assert.deepEqual(await tree(into), await tree(v2));
    assert.equal((await storedPackages(db.sql))[0]?.version, '1.0.0');
  });

  it('a write that fails leaves the old package, whole', async () => {
    const v1 = await makePackage('1.0.0');
    await storePackage(db.sql, v1, pkg('1.0.0'), { maxBytes: MAX });
    await db.sql`ALTER TABLE package_files ADD CONSTRAINT no_poison CHECK (path <> 'poison') NOT VALID`;
    const v2 = await makePackage('2.0.0', { poison: 'refused by the database' });
    await assert.rejects(storePackage(db.sql, v2, pkg('2.0.0'), { maxBytes: MAX }), /no_poison/);
    const into = out();
    assert.equal((await readPackage(db.sql, 'echo', into, { maxBytes: MAX }))?.version, '1.0.0');
    assert.deepEqual(await tree(into), await tree(v1));
  });

  it('refuses a package over the limit, and keeps what was stored', async () => {
    const v1 = await makePackage('1.0.0');
    await storePackage(db.sql, v1, pkg('1.0.0'), { maxBytes: MAX });
    await assert.rejects(storePackage(db.sql, await makePackage('2.0.0'), pkg('2.0.0'), { maxBytes: 4 * CHUNK_BYTES }), (err: Error & { code?: string }) => err.code === 'PACKAGE_TOO_LARGE');
    assert.equal((await storedPackages(db.sql))[0]?.version, '1.0.0');
  });

  it('refuses damaged rows (bytes that do not match, a path outside the folder) and writes nothing outside', async () => {
    await storePackage(db.sql, await makePackage('1.0.0'), pkg('1.0.0'), { maxBytes: MAX });
    await db.sql`UPDATE package_chunks SET bytes = set_byte(bytes, 10, (get_byte(bytes, 10) + 1) % 256) WHERE path = 'big.bin' AND seq = 3`;
    await assert.rejects(readPackage(db.sql, 'echo', out(), { maxBytes: MAX }), /damaged: big\.bin does not match its size and SHA-256/);
    await storePackage(db.sql, await makePackage('1.0.1'), pkg('1.0.1'), { maxBytes: MAX });
    // As a crafted Manager backup could hold it (the keys are checked at commit).
    await db.sql.begin(async (tx) => {
      await tx`UPDATE package_files SET path = '../escaped' WHERE path = 'service.js'`;
      await tx`UPDATE package_chunks SET path = '../escaped' WHERE path = 'service.js'`;
    });
    const into = join(dir, 'nested');
    await mkdir(into);
    await assert.rejects(readPackage(db.sql, 'echo', join(into, 'pkg'), { maxBytes: MAX }), /"\.\.\/escaped", which is not inside its folder/);
    assert.deepEqual((await readdir(into)).filter((n) => n !== 'pkg'), []);
  });

  it('deletePackage removes the package with its files and chunks', async () => {
    await storePackage(db.sql, await makePackage('1.0.0'), pkg('1.0.0'), { maxBytes: MAX });
    assert.equal(await deletePackage(db.sql, 'echo'), true);
    assert.equal(await deletePackage(db.sql, 'echo'), false);
    const [left] = await db.sql<{ files: number; chunks: number }[]>`
      SELECT (SELECT count(*) FROM package_files)::int AS files, (SELECT count(*) FROM package_chunks)::int AS chunks`;
    assert.deepEqual(left, { files: 0, chunks: 0 });
    assert.deepEqual(await storedPackages(db.sql), []);
  });

  it("knows a service the App Installer installed: an update keeps that, an uninstall forgets it", async () => {
    await storePackage(db.sql, await makePackage('1.0.0'), pkg('1.0.0'), { maxBytes: MAX });
    assert.equal(await byInstaller(db.sql, 'echo'), false, "stored by hand: the administrator's");
    await markByInstaller(db.sql, 'echo');
    assert.equal(await byInstaller(db.sql, 'echo'), true);
    await storePackage(db.sql, await makePackage('1.1.0'), pkg('1.1.0'), { maxBytes: MAX });
    assert.equal(await byInstaller(db.sql, 'echo'), true, 'an update is still the installer\'s');
    await deletePackage(db.sql, 'echo');
    await storePackage(db.sql, await makePackage('1.0.0'), pkg('1.0.0'), { maxBytes: MAX });
    assert.equal(await byInstaller(db.sql, 'echo'), false, 'installed again by hand after an uninstall');
    await assert.rejects(markByInstaller(db.sql, 'other'), { code: 'NOT_FOUND' });
  });
});

describe('reconciling from the database', () => {
  it("refuses rows stored under one service whose app.json names another, and installs nothing", async () => {
    // The app.json says "echo"; stored as "other" (rows from a backup someone edited).
    await storePackage(db.sql, await makePackage('1.0.0'), { name: 'other', version: '1.0.0', label: '100' }, { maxBytes: MAX });
    const installs: string[] = [];
    const result = await reconcilePackages({
      sql: db.sql,
      apps: join(dir, 'apps'),
      scratch: dir,
      maxBytes: MAX,
      log: silentLogger(),
      installed: () => [],
      install: async (folder) => (installs.push(folder), { name: 'echo', version: '1.0.0', label: '100' }),
    });
    assert.deepEqual(result, { installed: [], stored: [], removed: [], failed: ['other'] });
    assert.deepEqual(installs, []);
    assert.deepEqual((await readdir(dir)).filter((e) => e.startsWith('package-')), [], 'its scratch folder is removed');
  });
});
