// `ap ctl restore instance` names the instance it overwrites: --replace takes
// name@domain, and anything else is a usage error before the supervisor is asked.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseArgs } from '../../src/cli';
import { ctl } from '../../src/ctl';
import { backupCall, decryptBackup, keyImportCall } from '../../src/ctl/backup';
import { ApError, UsageError } from '../../src/errors';

const restore = (flags: Record<string, string>, switches: string[] = []) => backupCall('restore', 'instance', 'b.apbk', flags, new Set(switches), '/backups');

describe('ap ctl restore instance → API call', () => {
  it('sends the named replace target, never a bare yes', () => {
    assert.deepEqual(restore({ replace: 'echo1@example.com' }), { method: 'POST', path: '/restores/instances', body: { file: '/backups/b.apbk', replace: 'echo1@example.com' } });
    assert.deepEqual(restore({ name: 'copy', domain: 'example.com' }), { method: 'POST', path: '/restores/instances', body: { file: '/backups/b.apbk', name: 'copy', domain: 'example.com' } });
    for (const bad of ['yes', 'true', '--json', 'echo1']) {
      assert.throws(() => restore({ replace: bad }), (err: unknown) => err instanceof UsageError && /--replace needs the instance to overwrite, name@domain/.test(err.message), bad);
    }
  });

  it('refuses a --replace with nothing after it', () => {
    assert.throws(() => parseArgs(['ctl', 'restore', 'instance', 'b.apbk', '--replace']), (err: unknown) => err instanceof UsageError && /--replace needs a value/.test(err.message));
  });
});

describe('ap ctl backup key → API call', () => {
  const key = (arg: string | undefined, flags: Record<string, string> = {}, switches: string[] = []) => backupCall('backup', 'key', arg, flags, new Set(switches), '/');

  it('maps show, generate, export and remove (confirmed only with --yes), and refuses what does not go with them', () => {
    assert.deepEqual(key(undefined), { method: 'GET', path: '/backups/key' });
    assert.deepEqual(key('show'), { method: 'GET', path: '/backups/key' });
    assert.deepEqual(key('generate'), { method: 'POST', path: '/backups/key/generate' });
    assert.deepEqual(key('export'), { method: 'POST', path: '/backups/key/export' });
    assert.deepEqual(key('remove'), { method: 'POST', path: '/backups/key/remove', body: { confirm: false } });
    assert.deepEqual(key('remove', {}, ['yes']), { method: 'POST', path: '/backups/key/remove', body: { confirm: true } });
    assert.throws(() => key('rotate'), UsageError);
    assert.throws(() => key('generate', { file: 'x' }), (err: unknown) => err instanceof UsageError && /--file does not go with/.test(err.message));
  });

  it('takes the key to import from stdin or --key-file, never from the command line', async () => {
    assert.deepEqual(await keyImportCall({}, '/', async () => 'apbk1:from-stdin'), { method: 'POST', path: '/backups/key/import', body: { key: 'apbk1:from-stdin' } });
    await assert.rejects(keyImportCall({ 'key-file': '/nonexistent/key' }, '/', async () => ''), (err: unknown) => err instanceof UsageError && /cannot read the key file/.test(err.message));
    await assert.rejects(keyImportCall({ file: 'k' }, '/', async () => ''), UsageError);
    const io = { out: () => {} };
    const words = ['backup', 'key', 'import', 'apbk1:secret'];
    await assert.rejects(ctl({ words, flags: { root: '/nonexistent' }, json: false, env: {}, cwd: '/' }, io), (err: unknown) => err instanceof UsageError && /unexpected argument/.test(err.message), 'no fourth word: the key is never an argument');
  });

  it('refuses key text no key can be (a folder, an endless device, a huge stdin) with BAD_KEY, reading no more than a key', async () => {
    const badKey = (pattern: RegExp) => (err: unknown) => err instanceof ApError && err.code === 'BAD_KEY' && pattern.test(err.message);
    await assert.rejects(keyImportCall({ 'key-file': tmpdir() }, '/', async () => ''), badKey(/is a folder, not a key file/));
    await assert.rejects(keyImportCall({ 'key-file': '/dev/zero' }, '/', async () => ''), badKey(/^\/dev\/zero holds more than 4096 bytes: not a backup key/));
    await assert.rejects(keyImportCall({}, '/', async () => 'x'.repeat(1 << 20)), badKey(/^stdin holds more than 4096 bytes/));
    const dir = await mkdtemp(join(tmpdir(), 'ap-ctl-key-'));
    try {
      const input = join(dir, 'in.dump.enc');
      await writeFile(input, Buffer.concat([Buffer.from('APBKENC1'), Buffer.alloc(64)]));
      const decrypt = (keyFile: string) => decryptBackup({ input, output: join(dir, 'out.dump'), keyFile, boxKeyFile: join(dir, 'none'), force: false });
      await assert.rejects(decrypt('/dev/zero'), badKey(/^\/dev\/zero holds more than 4096 bytes/));
      await assert.rejects(decrypt(dir), badKey(/is a folder, not a key file/));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
