// The Linux root and admin passwords: handed to the board's command as
// "user:password", under the Manager's rules, with the command's refusal shown.
import assert from 'node:assert/strict';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setLinuxPassword } from '../../src/system';
import { workspace } from '../harness/workspace';

let dir: string;
let fake: string;
let out: string;

before(async () => {
  dir = await workspace('ap-passwd-');
  out = join(dir, 'received');
  fake = join(dir, 'fake-chpasswd');
  // A stand-in for chpasswd: keeps what it reads; refuses the admin user, as a box without one would.
  await writeFile(fake, '#!/bin/sh\nline=$(cat)\ncase "$line" in admin:*) echo "chpasswd: user \'admin\' does not exist" >&2; exit 1;; esac\nprintf "%s\\n" "$line" >> "$1"\n');
  await chmod(fake, 0o755);
});

after(() => rm(dir, { recursive: true, force: true }));

describe('Linux passwords', () => {
  it('hands user:password to the command', async () => {
    await setLinuxPassword(`${fake} ${out}`, 'root', 'a-root-pass: with colon');
    assert.equal(await readFile(out, 'utf8'), 'root:a-root-pass: with colon\n');
  });

  it("refuses a weak password, another user, and says the command's refusal", async () => {
    await rm(out, { force: true });
    await assert.rejects(setLinuxPassword(`${fake} ${out}`, 'root', 'short'), /at least 8 characters/);
    await assert.rejects(setLinuxPassword(`${fake} ${out}`, 'root', 'line\nbreak-pass'), { code: 'INVALID_FIELD' });
    await assert.rejects(setLinuxPassword(`${fake} ${out}`, 'postgres', 'a-good-pass-2026'), { code: 'NOT_FOUND' });
    await assert.rejects(readFile(out), { code: 'ENOENT' }, 'the command never ran');
    await assert.rejects(setLinuxPassword(`${fake} ${out}`, 'admin', 'a-good-pass-2026'), (err: Error & { code?: string }) => err.code === 'PASSWD_FAILED' && /user 'admin' does not exist/.test(err.message));
    await assert.rejects(setLinuxPassword('none', 'root', 'a-good-pass-2026'), { code: 'UNSUPPORTED' });
    await assert.rejects(setLinuxPassword(join(dir, 'missing'), 'root', 'a-good-pass-2026'), { code: 'PASSWD_FAILED' });
  });
});
