// Capping files that other writers append to (manager.out, PostgreSQL's log
// under its init script): copied to .1 and truncated in place.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { capFile } from '../../src/log';
import { workspace } from '../harness/workspace';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('capped log files', () => {
  it('moves a file past the cap to .1 and empties it; a writer appending goes on at its start', async () => {
    const dir = await workspace('ap-cap-');
    dirs.push(dir);
    const file = join(dir, 'manager.out');
    const fd = openSync(file, 'a'); // as the shell's >> opens it
    writeSync(fd, 'x'.repeat(2000));
    assert.equal(await capFile(file, 4096), false, 'below the cap: left alone');
    writeSync(fd, 'y'.repeat(3000));
    assert.equal(await capFile(file, 4096), true);
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'x'.repeat(2000) + 'y'.repeat(3000));
    assert.equal(statSync(file).size, 0);
    writeSync(fd, 'after\n');
    closeSync(fd);
    assert.equal(readFileSync(file, 'utf8'), 'after\n', 'written at the start, not at the old offset (no hole)');
    assert.equal(await capFile(join(dir, 'missing.log'), 10), false);
  });

  it("finds the files its stdout and stderr append to, and not one opened for writing (no O_APPEND)", async () => {
    const dir = await workspace('ap-cap-');
    dirs.push(dir);
    const appended = openSync(join(dir, 'out.log'), 'a');
    const written = openSync(join(dir, 'err.log'), 'w');
    const child = spawnSync(
      process.execPath,
      ['--import', join(REPO, 'test/register.mjs'), '--input-type=module', '-e', "import { ownOutputFiles } from './src/log/index.ts'; console.log(JSON.stringify(await ownOutputFiles()));"],
      { cwd: REPO, stdio: ['ignore', appended, written] },
    );
    closeSync(appended);
    closeSync(written);
    assert.equal(child.status, 0, readFileSync(join(dir, 'err.log'), 'utf8'));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'out.log'), 'utf8')), [join(dir, 'out.log')]);
  });
});
