import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestError, readManifest, validateManifest } from '../../src/services';

const good = { name: 'echo', version: '1.2.3', entry: ['node', 'service.js'] };

describe('app.json', () => {
  it('fills defaults: label from version, PBX login on, no web folder', () => {
    assert.deepEqual(validateManifest(good), { ...good, label: '1.2.3', web: null, pbxLogin: true, resources: {} });
    assert.equal(validateManifest({ ...good, label: '130004', web: 'web', pbxLogin: false }).web, 'web');
  });

  const bad: [string, unknown, RegExp][] = [
    ['an upper-case name', { ...good, name: 'Echo' }, /"name"/],
    ['a name with a slash', { ...good, name: 'a/b' }, /"name"/],
    ['no version', { name: 'echo', entry: ['node'] }, /"version"/],
    ['an empty entry', { ...good, entry: [] }, /"entry"/],
    ['an entry outside the package', { ...good, entry: ['../../bin/sh'] }, /inside the package/],
    ['an absolute entry', { ...good, entry: ['/bin/sh'] }, /inside the package/],
    ['a web folder outside', { ...good, web: '../web' }, /"web"/],
    ['an unknown field', { ...good, colour: 'red' }, /"colour"/],
    ['a memory limit below 8 MB', { ...good, resources: { memoryMB: 4 } }, /app\.json: "resources\.memoryMB" must be an integer from 8 to 4096 \(MB with no instance\)/],
    ['a fractional cpu weight', { ...good, resources: { cpuWeight: 1.5 } }, /"resources\.cpuWeight" must be an integer from 1 to 10000/],
    ['an unknown limit', { ...good, resources: { swapMB: 10 } }, /"resources\.swapMB"/],
    ['resources that are not an object', { ...good, resources: 64 }, /"resources" must be an object of memoryMB, instanceMB, cpuWeight and pids/],
    ['a non-boolean pbxLogin', { ...good, pbxLogin: 'yes' }, /"pbxLogin" must be true or false/],
    ['a number for a name', { ...good, name: 7 }, /"name" must be lowercase letters/],
    ['a version that is a number', { ...good, version: 1 }, /"version" must be a version such as 1\.2\.3/],
    ['an entry that is a string', { ...good, entry: 'node service.js' }, /"entry" must be a non-empty array of strings/],
    ['an empty argument in the entry', { ...good, entry: ['node', ''] }, /"entry\.1" must be a non-empty string/],
    ['no entry', { name: 'echo', version: '1.0.0' }, /"entry" must be a non-empty array/],
    ['a label with a space', { ...good, label: '13 0' }, /"label" must be a build label/],
    ['a web folder that is a number', { ...good, web: 3 }, /"web" must be a folder inside the package/],
    ['an array', [good], /app\.json must hold a JSON object of the known fields/],
  ];
  for (const [what, raw, message] of bad) {
    it(`rejects ${what}`, () => {
      assert.throws(() => validateManifest(raw), (err: unknown) => err instanceof ManifestError && err.code === 'MANIFEST_INVALID' && message.test(err.message));
    });
  }

  it('takes the limits a package declares, each optional', () => {
    assert.deepEqual(validateManifest({ ...good, resources: { memoryMB: 32, instanceMB: 4, cpuWeight: 200, pids: 64 } }).resources, { memoryMB: 32, instanceMB: 4, cpuWeight: 200, pids: 64 });
    assert.deepEqual(validateManifest({ ...good, resources: { pids: 16 } }).resources, { pids: 16 });
  });

  it('names the file it read and the field, and takes the vendor\'s descriptive fields', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ap-manifest-'));
    try {
      await writeFile(join(dir, 'app.json'), JSON.stringify({ ...good, pbxLogin: 'no' }));
      await assert.rejects(readManifest(dir), (err: Error) => err instanceof ManifestError && err.message === `${join(dir, 'app.json')}: "pbxLogin" must be true or false`);
      await writeFile(join(dir, 'app.json'), JSON.stringify({ ...good, colour: 'red' }));
      await assert.rejects(readManifest(dir), /app\.json: "colour" is not one of the known fields \(name, version, label, entry, web, pbxLogin, resources, title, manufacturer, description\)/);
      await writeFile(join(dir, 'app.json'), JSON.stringify({ ...good, title: 'Echo', manufacturer: 'Tests', description: 'echoes' }));
      assert.equal((await readManifest(dir)).name, 'echo');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
