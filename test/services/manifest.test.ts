import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManifestError, validateManifest } from '../../src/services';

const good = { name: 'echo', version: '1.2.3', entry: ['node', 'service.js'] };

describe('app.json', () => {
  it('fills defaults: label from version, PBX login on, no web folder', () => {
    assert.deepEqual(validateManifest(good), { ...good, label: '1.2.3', web: null, pbxLogin: true });
    assert.equal(validateManifest({ ...good, label: '130004', web: 'web', pbxLogin: false }).web, 'web');
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an upper-case name', { ...good, name: 'Echo' }, /"name"/],
    ['a name with a slash', { ...good, name: 'a/b' }, /"name"/],
    ['no version', { name: 'echo', entry: ['node'] }, /"version"/],
    ['an empty entry', { ...good, entry: [] }, /"entry"/],
    ['an entry outside the package', { ...good, entry: ['../../bin/sh'] }, /inside the package/],
    ['an absolute entry', { ...good, entry: ['/bin/sh'] }, /inside the package/],
    ['a web folder outside', { ...good, web: '../web' }, /"web"/],
    ['an unknown field', { ...good, colour: 'red' }, /"colour"/],
    ['a non-boolean pbxLogin', { ...good, pbxLogin: 'yes' }, /"pbxLogin"/],
  ];
  for (const [what, raw, message] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(() => validateManifest(raw), (err: unknown) => err instanceof ManifestError && err.code === 'MANIFEST_INVALID' && message.test(err.message));
    });
  }
});
