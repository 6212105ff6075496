// `ap ctl restore instance` names the instance it overwrites: --replace takes
// name@domain, and anything else is a usage error before the supervisor is asked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../../src/cli';
import { backupCall } from '../../src/ctl/backup';
import { UsageError } from '../../src/errors';

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
