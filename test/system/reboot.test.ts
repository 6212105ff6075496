// The reboot after staging (src/system rebootPort): a command that fails or
// cannot be run is reported to the caller's onFailure (the supervisor raises
// REBOOT_FAILED: the staged image waits for a reboot nobody will notice is
// missing), one that succeeds is not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/log';
import { rebootPort } from '../../src/system';

const log = createLogger({ level: 'error', file: '/dev/null' });

/** Runs the port with `command` and waits for its verdict (or 3 s of silence). */
async function outcome(command: string): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 3000);
    void rebootPort(command, log, 'the staged image is applied at the next reboot', (text) => {
      clearTimeout(timer);
      resolve(text);
    })();
  });
}

describe('the reboot after staging', () => {
  it('reports a reboot command that exits with an error, naming it and what waits', async () => {
    const text = await outcome('false');
    assert.match(text ?? '', /^false failed \(exit code 1\); the staged image is applied at the next reboot$/);
  });

  it('reports one that cannot be run at all', async () => {
    assert.match((await outcome('/nonexistent/reboot now')) ?? '', /^\/nonexistent\/reboot now failed \(spawn \/nonexistent\/reboot ENOENT\)/);
  });

  it('reports nothing when the command succeeds', async () => {
    assert.equal(await outcome('true'), null);
  });
});
