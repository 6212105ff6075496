// Package manifests and the store index: what a store can make a box accept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_PACKAGE, parseIndex, parsePackageManifest, storeArch } from '../../src/store';

const sha = 'a'.repeat(64);
const manifest = (files: unknown, extra: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ format: 1, name: 'echo', version: '1.0.0', build: '100001', arch: 'x86_64', files, ...extra }));
const file = (path: unknown, size = 1) => ({ path, size, sha256: sha });

describe('package manifest', () => {
  it('takes plain relative paths with sizes and hashes', () => {
    const m = parsePackageManifest(manifest([file('app.json'), { ...file('bin/echo'), executable: true }]));
    assert.deepEqual(m.files.map((f) => [f.path, f.executable]), [['app.json', false], ['bin/echo', true]]);
  });

  it('refuses every path that could land outside the package', () => {
    for (const path of ['../x', '/etc/passwd', 'a/../../x', './app.json', 'a//b', '', 'a/', '.hidden/..', 'a\\b', 'x\0y', 7]) {
      assert.throws(() => parsePackageManifest(manifest([file('app.json'), file(path)])), { code: 'BAD_PACKAGE' }, String(path));
    }
  });

  it('refuses duplicates, a file that is also a folder, no app.json, too much, and bad fields', () => {
    const cases: [Buffer, RegExp][] = [
      [manifest([file('app.json'), file('app.json')]), /listed twice/],
      [manifest([file('app.json'), file('lib'), file('lib/x.js')]), /lib is also a folder/],
      [manifest([file('main.js')]), /no app\.json/],
      [manifest([file('app.json', MAX_PACKAGE), file('b', 1)]), /at most/],
      [manifest([file('app.json', -1)]), /bad size/],
      [manifest([{ path: 'app.json', size: 1, sha256: 'xyz' }]), /bad sha256/],
      [manifest([file('app.json')], { arch: 'mips' }), /architecture/],
      [manifest([file('app.json')], { build: '1.0' }), /build number/],
      [manifest([file('app.json')], { name: '../x' }), /valid service/],
      [manifest([file('app.json')], { format: 2 }), /format 2/],
      [manifest([]), /1 to/],
      [Buffer.from('{'), /not JSON/],
    ];
    for (const [bytes, reason] of cases) assert.throws(() => parsePackageManifest(bytes), reason);
  });

  it('names the field of a wrong type or a missing one, and the file it belongs to', () => {
    const cases: [Buffer, RegExp][] = [
      [manifest([file('app.json')], { version: 3 }), /^the package manifest: "version" must be a version$/],
      [manifest([file('app.json')], { build: 100001 }), /^the package manifest: "build" must be a build number$/],
      [manifest([file('app.json')], { arch: undefined }), /^the package manifest: "arch" must name an architecture/],
      [manifest([file('app.json')], { name: undefined }), /^the package manifest: "name" must name a valid service$/],
      [manifest([file('app.json'), { path: 'main.js', sha256: sha }]), /^package file main\.js: bad size$/],
      [manifest([file('app.json'), { ...file('bin/x'), executable: 'yes' }]), /^package file bin\/x: "executable" must be a boolean$/],
      [manifest([file('app.json'), file(7)]), /^package file 1: "path" must be a string$/],
      [manifest('app.json'), /^the package manifest: "files" must list 1 to 10000 files$/],
    ];
    for (const [bytes, reason] of cases) assert.throws(() => parsePackageManifest(bytes), (err: { code?: string; message: string }) => err.code === 'BAD_PACKAGE' && reason.test(err.message), String(reason));
  });
});

describe('store index', () => {
  it('reads an array or {apps}, sorts builds newest first, skips what cannot be a service', () => {
    const apps = [
      { id: 'a', folder: 'a', title: 'A', versions: [{ id: '1', build: '9' }, { id: '2', build: '10' }, { build: 'x' }] },
      { id: 'b', folder: '../b', versions: [{ build: '1' }] },
      { id: 'c', folder: 'c', versions: [] },
      { id: 'a', folder: 'a2', versions: [{ build: '1' }] },
      'junk',
    ];
    for (const raw of [apps, { apps }]) {
      const { apps: got, skipped } = parseIndex(raw);
      assert.deepEqual(got.map((a) => [a.id, a.versions.map((v) => v.build)]), [['a', ['10', '9']]]);
      assert.deepEqual(skipped, ['b', 'c', 'a', 'entry 4']);
    }
    assert.throws(() => parseIndex({ nope: 1 }), { code: 'BAD_STORE' });
  });

  it('leaves out an entry or a version with a field of the wrong type, keeping the rest of the store', () => {
    const versions = [{ id: '1.0', build: '7', label: 'seven' }];
    const { apps, skipped } = parseIndex([
      { id: 'good', folder: 'good', title: 'Good', manufacturer: 'M', description: 'D', binary: 'bin', versions, vendorField: { any: 1 } },
      { id: 'typed', folder: 'typed', title: 5, versions },
      { id: 'flat', folder: 'flat', versions: 'x' },
      { id: 7, folder: 'seven', versions },
      { id: 'some', folder: 'some', versions: [{ id: 2, build: '2' }, 'x', { build: 3 }, { build: '1', label: 'one' }] },
    ]);
    assert.deepEqual(apps, [
      { id: 'good', folder: 'good', binary: 'bin', title: 'Good', manufacturer: 'M', description: 'D', versions: [{ id: '1.0', build: '7', label: 'seven' }] },
      { id: 'some', folder: 'some', binary: 'some', title: 'some', manufacturer: '', description: '', versions: [{ id: '1', build: '1', label: 'one' }] },
    ]);
    assert.deepEqual(skipped, ['typed', 'flat', 'entry 3']);
  });

  it("names this box's architecture as the store does", () => {
    assert.equal(storeArch('arm64'), 'arm64');
    assert.equal(storeArch('any', 'x64'), 'x86_64');
    assert.equal(storeArch('any', 'arm'), 'arm');
  });
});
