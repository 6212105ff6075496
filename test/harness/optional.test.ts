// The optional parts' detectors: a missing or broken part is reported with a
// reason (the skip message), never an exception or a hang.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addonMissing, chromiumMissing, commandMissing, missing } from './optional';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ap-optional-'));
});
after(() => rm(dir, { recursive: true, force: true }));

describe('optional parts', () => {
  it('an sd-notify addon that is absent or does not load is missing, with why', async () => {
    assert.match(addonMissing(join(dir, 'notify.node'))!, /^needs the sd-notify addon \(install libsystemd-dev before npm ci\): no .*notify\.node$/);
    const broken = join(dir, 'broken.node');
    await writeFile(broken, 'not an ELF file');
    assert.match(addonMissing(broken)!, /^needs the sd-notify addon .*broken\.node does not load \(/);
    // A copy of a real addon of another kind (uWS) loads: the check is "loads", not "has this name".
    const uws = readdirSync(join(import.meta.dirname, '../../dist')).find((f) => f.startsWith('uws_') && f.endsWith('.node'));
    if (uws) {
      await copyFile(join(import.meta.dirname, '../../dist', uws), join(dir, uws));
      assert.equal(addonMissing(join(dir, uws)), null);
    }
  });

  it('a command not on the PATH is missing, with how to install it', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    await symlink('/bin/sh', join(bin, 'sh'));
    assert.equal(commandMissing('busybox', 'apt-get install busybox', bin), 'needs busybox (apt-get install busybox)');
    await writeFile(join(bin, 'busybox'), '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(commandMissing('busybox', 'apt-get install busybox', bin), null);
  });

  it('a Chromium path that points nowhere is missing', () => {
    assert.equal(chromiumMissing(join(dir, 'no-chromium')), `needs Chromium: none at ${join(dir, 'no-chromium')} (apt-get install chromium, or set AP_CHROMIUM)`);
  });

  it('AP_TEST_HIDE hides any part', () => {
    const before = process.env.AP_TEST_HIDE;
    process.env.AP_TEST_HIDE = 'chromium, sd-notify';
    try {
      assert.equal(missing('chromium'), 'needs chromium (hidden by AP_TEST_HIDE)');
      assert.equal(missing('sd-notify'), 'needs sd-notify (hidden by AP_TEST_HIDE)');
    } finally {
      if (before === undefined) delete process.env.AP_TEST_HIDE;
      else process.env.AP_TEST_HIDE = before;
    }
  });
});
