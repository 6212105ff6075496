// tools/image/manager-package.mjs: a bundle folder published as a build of the
// supervisor's own package, signed and listed the way a box checks it, and
// kept out of the store's app list (no app may be called manager).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair, verifyWithAny } from '../../src/image/sign';
import { parseIndex, parsePackageManifest } from '../../src/store';

const TOOL = join(import.meta.dirname, '../../tools/image/manager-package.mjs');
let dir: string;
let publicKey: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-manager-package-'));
  const pair = await generateKeyPair();
  publicKey = pair.publicKey;
  await writeFile(join(dir, 'release.key'), `${pair.secretKey}\n`);
  // A bundle's shape: ap.js and files beside it, the UI in manager/.
  await mkdir(join(dir, 'dist/manager'), { recursive: true });
  await writeFile(join(dir, 'dist/ap.js'), '#!/usr/bin/env node\n');
  await writeFile(join(dir, 'dist/sdk.js'), 'module.exports = {};\n');
  await writeFile(join(dir, 'dist/manager/index.html'), '<!doctype html>\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tool = (...args: string[]) => spawnSync(process.execPath, [TOOL, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('manager-package.mjs', () => {
  it('publishes the bundle as a signed build of "manager" with its app.json and index entry', async () => {
    const store = join(dir, 'store');
    for (const build of ['200', '201']) {
      const r = tool('--store', store, '--build', build, '--key', join(dir, 'release.key'), '--arch', 'x86_64', '--dist', join(dir, 'dist'));
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`published .*/${build}/x86_64/manager`));
    }
    const pkg = join(store, '201/x86_64/manager');
    const manifestBytes = await readFile(join(pkg, 'manifest.json'));
    assert.ok(await verifyWithAny(manifestBytes, await readFile(join(pkg, 'manifest.sig'), 'utf8'), [publicKey]), 'signed with the key');
    const manifest = parsePackageManifest(manifestBytes, { service: false });
    assert.equal(manifest.name, 'manager');
    assert.equal(manifest.build, '201');
    assert.deepEqual(manifest.files.map((f) => f.path), ['ap.js', 'app.json', 'manager/index.html', 'sdk.js']);
    assert.equal(manifest.files.find((f) => f.path === 'ap.js')!.executable, true);
    assert.deepEqual(JSON.parse(await readFile(join(pkg, 'app.json'), 'utf8')), { name: 'manager', version: JSON.parse(await readFile(join(import.meta.dirname, '../../package.json'), 'utf8')).version, label: '201' });
    // As an app package it would be refused: the name is the supervisor's.
    assert.throws(() => parsePackageManifest(manifestBytes), { code: 'SERVICE_NAME_RESERVED' });

    const index = JSON.parse(await readFile(join(store, 'apps.json'), 'utf8'));
    const entry = index.apps.find((a: { folder: string }) => a.folder === 'manager');
    assert.deepEqual(entry.versions.map((v: { build: string }) => v.build), ['200', '201']);
    const { apps, skipped } = parseIndex(index);
    assert.deepEqual(apps, [], 'not in the app list');
    assert.deepEqual(skipped, [], 'and not a mistake of the store either');
  });

  it('refuses a missing key or build, and a folder without ap.js, writing nothing', async () => {
    const store = join(dir, 'refused');
    const usage = tool('--store', store, '--build', '5');
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /usage: node tools\/image\/manager-package\.mjs --store DIR --build N --key K\.key/);
    await mkdir(join(dir, 'empty'), { recursive: true });
    const noBundle = tool('--store', store, '--build', '5', '--key', join(dir, 'release.key'), '--dist', join(dir, 'empty'));
    assert.notEqual(noBundle.status, 0);
    assert.match(noBundle.stderr, /has no ap\.js: build the bundle first/);
    const notBuild = tool('--store', store, '--build', 'x1', '--key', join(dir, 'release.key'), '--dist', join(dir, 'dist'));
    assert.notEqual(notBuild.status, 0);
    assert.match(notBuild.stderr, /"x1" is not a build number/);
    await assert.rejects(readFile(join(store, 'apps.json')), { code: 'ENOENT' });
  });
});
