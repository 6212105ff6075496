// The naming rule and the pure parts of the service accounts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCommands, deleteCommands, freeId, isOurs, MARK, parseGroups, parsePasswd, UID_FIRST } from '../../src/services/accounts';
import { validateManifest } from '../../src/services/manifest';
import { checkService, checkServiceName, isServiceName } from '../../src/names';
import { parseIndex, parsePackageManifest } from '../../src/store';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
postgres:x:105:111:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash
echo:x:61000:61000:${MARK}:/apps/echo:/usr/sbin/nologin
fake:x:61001:61001:someone else:/home/fake:/bin/sh
`;

describe('the service naming rule', () => {
  it('refuses the names of root, the database superuser and the supervisor everywhere a name enters', () => {
    for (const name of ['root', 'postgres', 'manager']) {
      assert.throws(() => checkServiceName(name), (err: { code: string; message: string }) => err.code === 'SERVICE_NAME_RESERVED' && err.message.includes(`"${name}" cannot name an app service`));
      assert.equal(isServiceName(name), false);
      assert.throws(() => validateManifest({ name, version: '1.0.0', entry: ['node', 'x.js'] }), /cannot name an app service/);
      assert.throws(() => checkService(name), /reserved for the system/);
    }
    assert.throws(() => checkServiceName('Echo'), (err: { code: string }) => err.code === 'SERVICE_NAME_INVALID');
    assert.throws(() => checkServiceName('../x'), (err: { code: string }) => err.code === 'SERVICE_NAME_INVALID');
    assert.equal(checkServiceName('echo'), 'echo');
  });

  it('leaves store entries with a reserved folder out of the store list', () => {
    const versions = [{ id: '1', build: '1' }];
    const index = parseIndex([{ id: 'pg', folder: 'postgres', versions }, { id: 'e', folder: 'echo', versions }]);
    assert.deepEqual(index.apps.map((a) => a.folder), ['echo']);
    assert.deepEqual(index.skipped, ['pg']);
    const pkg = (name: string) => Buffer.from(JSON.stringify({ format: 1, name, version: '1', build: '1', arch: 'any', files: [{ path: 'app.json', size: 1, sha256: '0'.repeat(64) }] }));
    assert.equal(parsePackageManifest(pkg('echo')).name, 'echo');
    assert.throws(() => parsePackageManifest(pkg('postgres')), (err: { code: string }) => err.code === 'SERVICE_NAME_RESERVED');
  });
});

describe('service accounts', () => {
  it('counts as ours only accounts in our uid range that carry our mark', () => {
    const users = parsePasswd(PASSWD);
    assert.deepEqual(users.filter(isOurs).map((u) => u.name), ['echo']);
  });

  it('picks the first free id of the range, keeps a recorded one when free, and skips ids kept for others', () => {
    const users = parsePasswd(PASSWD);
    const groups = parseGroups(`root:x:0:\necho:x:61000:\nfake:x:61001:\nother:x:61002:\n`);
    assert.equal(freeId(users, groups, new Set()), UID_FIRST + 3);
    assert.equal(freeId(users, groups, new Set([UID_FIRST + 3])), UID_FIRST + 4);
    assert.equal(freeId(users, groups, new Set(), UID_FIRST + 10), UID_FIRST + 10);
    assert.equal(freeId(users, groups, new Set(), 105), UID_FIRST + 3, 'a recorded id outside the range is not taken');
  });

  it('makes accounts without a home or a login, with useradd or BusyBox adduser', () => {
    assert.deepEqual(createCommands('shadow', 'echo', 61005, '/d/echo', '/usr/sbin/nologin'), [
      ['groupadd', '--gid', '61005', 'echo'],
      ['useradd', '--uid', '61005', '--gid', '61005', '--no-create-home', '--home-dir', '/d/echo', '--shell', '/usr/sbin/nologin', '--comment', MARK, 'echo'],
    ]);
    assert.deepEqual(createCommands('busybox', 'echo', 61005, '/d/echo', '/bin/false'), [
      ['addgroup', '-g', '61005', 'echo'],
      ['adduser', '-D', '-H', '-u', '61005', '-G', 'echo', '-h', '/d/echo', '-s', '/bin/false', '-g', MARK, 'echo'],
    ]);
    assert.deepEqual(deleteCommands('busybox', 'echo'), [['deluser', 'echo'], ['delgroup', 'echo']]);
  });
});
