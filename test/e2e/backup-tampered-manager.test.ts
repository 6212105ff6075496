// A tampered Manager backup (a table definition that first runs RESET ROLE
// and COPY … TO PROGRAM, the checksum recomputed) is refused and runs
// nothing; an honest one still restores the settings and instances.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clusterState, ctl, dir, exists, job, marker, tamper, withSupervisor } from './tampering';

withSupervisor();

describe('restoring Manager backups nobody can vouch for', () => {
  it('refuses a Manager backup whose table definition runs COPY … TO PROGRAM, and restores an honest one', async () => {
    ctl('instance', 'create', 'app@example.com', '--service', 'echo', '--password', 'app-pw');
    const honestManager = join(dir, 'manager.apbk');
    assert.equal(job('backup', 'manager', '--file', honestManager).state, 'succeeded');
    const crafted = join(dir, 'manager-crafted.apbk');
    await tamper(honestManager, crafted, 'CREATE TABLE public.config (', `RESET ROLE; COPY (SELECT 1) TO PROGRAM 'touch ${marker}-manager'; `);
    ctl('setting', 'set', 'timezone', 'Asia/Tokyo');
    ctl('instance', 'delete', 'app@example.com'); // its database stays
    const before = await clusterState();

    const restore = job('restore', 'manager', crafted);
    assert.equal(await exists(`${marker}-manager`), false, 'the Manager restore did not run the program');
    assert.equal(restore.state, 'failed');
    assert.match(restore.message, /COPY … PROGRAM in TABLE public\.config/);
    const verify = job('backup', 'verify', crafted, '--restore-test');
    assert.equal(verify.state, 'failed');
    assert.equal(await exists(`${marker}-manager`), false, 'the restore test did not run the program');
    assert.equal(ctl('setting', 'list').settings.timezone.value, 'Asia/Tokyo');
    assert.deepEqual(ctl('instance', 'list').instances, []);
    assert.deepEqual(await clusterState(), before);

    const tested = job('backup', 'verify', honestManager, '--restore-test');
    assert.equal(tested.state, 'succeeded', tested.message);
    const restored = job('restore', 'manager', honestManager);
    assert.equal(restored.state, 'succeeded', restored.message);
    assert.equal(ctl('setting', 'list').settings.timezone.value, 'UTC');
    assert.deepEqual((ctl('instance', 'list').instances as { id: string }[]).map((i) => i.id), ['app@example.com']);
    const after = await clusterState();
    assert.deepEqual([...after.databases, ...after.roles].filter((n) => n.startsWith('ap_restore_')), [], 'no scratch database or restore role is left');
  });
});
