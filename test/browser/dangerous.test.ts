// The Manager's dangerous buttons on an instance's page in a real browser
// (issue 15): each is red, asks in a dialog that states the consequence, and
// acts only when confirmed; Cancel and Escape change nothing (checked through
// the API and the database, not the page). The database clean-up warns
// first, shows its job running, then done. A restore over an instance asks,
// and a backup of another instance is refused on that instance's page. Each
// test has its own browser session (dangerous-box.ts); the service, the box
// and delete are in dangerous-system.test.ts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { until } from '../harness/http';
import { accessibilityProblems, ctl, dir, get, login, missing, openDialog, openInstance, page, refuseTwice, rolePassword, superuser, useDangerBox } from './dangerous-box';

useDangerBox();

describe('dangerous actions in the Manager', { skip: missing ?? false }, () => {
  beforeEach(login);

  it('New password and New database password ask first; cancelled they change nothing, confirmed they do', async () => {
    await openInstance('echo1@example.com');
    const user = (await get('/instances/echo1%40example.com')).database.user as string;
    const dbBefore = await rolePassword(user);

    const button = page.getByRole('button', { name: 'New password', exact: true });
    await refuseTwice(button, 'New password for echo1@example.com?', /PBXes and clients that log in with the old one are refused/, async () => {
      assert.equal((await get('/instances/echo1%40example.com')).password, 'echo1-pw');
    });
    const dialog = await openDialog(button, 'New password for echo1@example.com?', /replaces the current one/);
    await dialog.getByRole('button', { name: 'Set a new password' }).click();
    await until('a new password', async () => ((await get('/instances/echo1%40example.com')).password !== 'echo1-pw' ? true : undefined));

    const dbButton = page.getByRole('button', { name: 'New database password' });
    await refuseTwice(dbButton, 'New database password for echo1@example.com?', /gets a new random password at once/, async () => {
      assert.equal(await rolePassword(user), dbBefore);
    });
    const dbDialog = await openDialog(dbButton, 'New database password for echo1@example.com?', /with the old password .* is refused/);
    await dbDialog.getByRole('button', { name: 'Set a new database password' }).click();
    await until('a new database password', async () => ((await rolePassword(user)) !== dbBefore ? true : undefined));
  });

  it('Clean up database warns of the lock and the space, shows the job running, then done', async () => {
    await openInstance('echo1@example.com');
    const database = (await get('/instances/echo1%40example.com')).database.name as string;
    const cleanups = async () => ((await get('/jobs')).jobs as { kind: string }[]).filter((j) => j.kind === 'cleanup').length;
    const earlier = await cleanups();
    const button = page.getByRole('button', { name: 'Clean up database' });
    await refuseTwice(button, 'Clean up the database of echo1@example.com?', /locked.*free disk space as large as the biggest table/s, async () => {
      assert.equal(await cleanups(), earlier, 'no clean-up job started');
    });
    // A reader holds a lock on a table: vacuumdb -f waits for it, so the job is seen running.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const locked = superuser(database, async (sql) => {
      await sql`CREATE TABLE IF NOT EXISTS held (x int)`;
      await sql.begin(async (tx) => {
        await tx`LOCK TABLE held IN ACCESS SHARE MODE`;
        await released;
      });
    });
    try {
      const dialog = await openDialog(button, 'Clean up the database of echo1@example.com?', /vacuumdb -f/);
      await dialog.getByRole('button', { name: 'Clean up now' }).click();
      await page.getByRole('status').filter({ hasText: /Clean-up running, the database is locked/ }).waitFor({ timeout: 30_000 });
      assert.equal(await button.isDisabled(), true, 'no second clean-up while one runs');
    } finally {
      release();
      await locked;
    }
    await page.getByRole('status').filter({ hasText: /Clean-up done: database "example\.com_echo1" cleaned up/ }).waitFor({ timeout: 30_000 });
    assert.equal(await cleanups(), earlier + 1);
  });

  it('a job whose answer arrives after its end (a slow link) is told beside its button, not again in a note', async () => {
    // A fresh event socket, whose pushed job states the test hears too.
    const socket = page.waitForEvent('websocket');
    await page.reload();
    const pushed: { id: string; state: string }[] = [];
    const heard: (() => void)[] = [];
    (await socket).on('framereceived', ({ payload }) => {
      const event = JSON.parse(String(payload)) as { type?: string; job?: { id: string; state: string } };
      if (event.type !== 'job' || !event.job) return;
      pushed.push(event.job);
      heard.splice(0).forEach((wake) => wake());
    });
    const endPushed = async (id: string) => {
      while (!pushed.some((j) => j.id === id && j.state !== 'running')) await new Promise<void>((wake) => heard.push(wake));
    };
    await openInstance('echo1@example.com');
    // The answer naming the job is held back until the job's end was pushed to the page.
    let id = '';
    await page.route('**/manager/api/instances/*/cleanup', async (route) => {
      const response = await route.fetch();
      id = ((await response.json()) as { id: string }).id;
      await endPushed(id);
      await route.fulfill({ response });
    });
    try {
      const dialog = await openDialog(page.getByRole('button', { name: 'Clean up database' }), 'Clean up the database of echo1@example.com?', /vacuumdb -f/);
      await dialog.getByRole('button', { name: 'Clean up now' }).click();
      await page.getByRole('status').filter({ hasText: /Clean-up done: database "example\.com_echo1" cleaned up/ }).waitFor({ timeout: 30_000 });
    } finally {
      await page.unroute('**/manager/api/instances/*/cleanup');
    }
    assert.equal((await get(`/jobs/${id}`)).state, 'succeeded');
    // Whether a page follows the job is settled before its outcome is shown beside the button (a note would be up by now).
    assert.equal(await page.getByRole('region', { name: 'Finished jobs' }).count(), 0, 'the job the page followed was told again in a note');
  });

  it("restoring over an instance asks; a backup of echo1 on echo1copy's page is refused and changes neither", async () => {
    const file = join(dir, 'echo1.apbk');
    assert.equal(ctl('backup', 'instance', 'echo1@example.com', '--file', file).state, 'succeeded');
    const state = async () => [(await get('/instances/echo1%40example.com')).password, (await get('/instances/echo1copy%40example.com')).password];
    const ids = async () => ((await get('/instances')).instances as { id: string }[]).map((i) => i.id).sort();
    const before = await state();
    const idsBefore = await ids();
    await openInstance('echo1copy@example.com');
    await page.setInputFiles('input[name=file]', file);
    const button = page.getByRole('button', { name: 'Restore over this instance' });
    await refuseTwice(button, 'Replace echo1copy@example.com with the backup?', /is a backup of echo1@example\.com.*It is not a backup of echo1copy@example\.com/s, async () => {
      assert.deepEqual(await state(), before);
    });
    // Confirmed anyway: the box refuses it, says why, and offers a copy.
    const dialog = await openDialog(button, 'Replace echo1copy@example.com with the backup?', /replaced by the backup's/);
    await dialog.getByRole('button', { name: 'Replace echo1copy@example.com' }).click();
    await page.getByRole('main').getByRole('alert').filter({ hasText: /the backup is of echo1@example\.com, not of echo1copy@example\.com: nothing was changed.*as a copy/ }).waitFor();
    assert.deepEqual(await state(), before);
    assert.deepEqual(await ids(), idsBefore);

    // On echo1's own page, confirmed: echo1 comes back as in the backup (its password of then).
    await openInstance('echo1@example.com');
    await page.setInputFiles('input[name=file]', file);
    const own = await openDialog(page.getByRole('button', { name: 'Restore over this instance' }), 'Replace echo1@example.com with the backup?', /is a backup of echo1@example\.com/);
    assert.doesNotMatch((await own.textContent()) ?? '', /It is not a backup of/);
    await own.getByRole('button', { name: 'Replace echo1@example.com' }).click();
    await page.getByText(/restored echo1@example\.com/).waitFor({ timeout: 60_000 });
    assert.deepEqual(await state(), before);
  });

  it('the dialog and the red buttons pass the accessibility check (axe-core, WCAG 2.1 AA)', async () => {
    await openInstance('echo1@example.com');
    assert.deepEqual(await accessibilityProblems(page), [], 'the instance page with its red buttons');
    await page.getByRole('button', { name: 'New password', exact: true }).click();
    await page.getByRole('dialog').waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'with the dialog open');
    await page.keyboard.press('Escape');
  });
});
