// The Manager's dangerous buttons beyond an instance's page (issue 15): a
// service's restart and stop, the App Platform's restart and shutdown, an instance's
// delete, and an instance brought back from its backup on the page for new instances (#/new).
// Each asks first and acts only when confirmed. Each test has its own browser
// session (dangerous-box.ts).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { until } from '../harness/http';
import { base, ctl, dir, get, login, missing, openDialog, openInstance, page, refuseTwice, run, useDangerBox } from './dangerous-box';

useDangerBox();

describe('dangerous actions in the Manager: services, the box, delete', { skip: missing ?? false }, () => {
  beforeEach(login);

  it("restarting a service asks; cancelled its process stays, confirmed it is a new one", async () => {
    await page.goto(`${base}/manager/#/service/echo`);
    await page.getByRole('heading', { name: 'echo', exact: true }).waitFor();
    const pid = async () => (await get('/services/echo')).pid as number;
    const first = await pid();
    const button = page.getByRole('button', { name: 'Restart', exact: true });
    await refuseTwice(button, 'Restart echo?', /every instance of it is unavailable meanwhile/, async () => assert.equal(await pid(), first));
    const dialog = await openDialog(button, 'Restart echo?', /connections are cut/);
    await dialog.getByRole('button', { name: 'Restart echo' }).click();
    await until('a new process', async () => {
      const now = await pid();
      return typeof now === 'number' && now !== first ? true : undefined;
    });
  });

  it('stopping a service asks; cancelled it keeps running, confirmed it is stopped (and started again)', async () => {
    await page.goto(`${base}/manager/#/service/echo`);
    await page.getByRole('heading', { name: 'echo', exact: true }).waitFor();
    const state = async () => (await get('/services/echo')).state as string;
    const button = page.getByRole('button', { name: 'Stop', exact: true });
    await refuseTwice(button, 'Stop echo?', /every instance of it is unavailable until then/, async () => assert.equal(await state(), 'running'));
    const dialog = await openDialog(button, 'Stop echo?', /stays stopped until someone starts it/);
    await dialog.getByRole('button', { name: 'Stop echo' }).click();
    await until('echo stopped', async () => ((await state()) === 'stopped' ? true : undefined));
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await until('echo running again', async () => ((await state()) === 'running' ? true : undefined));
  });

  it('Restart and Shutdown of the App Platform ask; only a confirmed one is asked of the box', async () => {
    await page.goto(`${base}/manager/#/settings/power`);
    await page.getByRole('heading', { name: 'Restart and shutdown', exact: true }).waitFor();
    for (const [name, title, consequence, confirm, logged, answer] of [
      ['Restart', 'Restart the App Platform?', /The box reboots/, 'Restart the App Platform', /restart requested from the Manager/, 'this board does not restart itself'],
      ['Shutdown', 'Shut the App Platform down?', /The box switches off/, 'Shut down', /shutdown requested from the Manager/, 'this board does not shut itself down'],
    ] as const) {
      const button = page.locator('fieldset', { hasText: 'Restart and shutdown' }).getByRole('button', { name, exact: true });
      await refuseTwice(button, title, consequence, async () => assert.doesNotMatch(run.output.text, logged));
      const dialog = await openDialog(button, title, consequence);
      await dialog.getByRole('button', { name: confirm }).click();
      await page.getByText(answer).waitFor();
      await run.waitFor(logged, 10_000);
    }
  });

  it("the Manager's own update sits on Settings: the running version, the store's offer, and why this one cannot update itself", async () => {
    const state = await get('/supervisor/update');
    assert.equal(typeof state.refused, 'string'); // a development bundle, not a package under init
    await page.goto(`${base}/manager/#/settings/update`);
    const box = page.locator('fieldset', { hasText: 'Manager update' });
    await box.getByText(`Running Manager ${state.version as string}`).waitFor();
    await box.getByText(state.refused as string).waitFor();
    assert.equal(await box.getByRole('button', { name: 'Update the Manager', exact: true }).isDisabled(), true);
  });

  it('Delete asks, saying whether the data goes too; cancelled the instance stays, confirmed it is gone', async () => {
    assert.equal(ctl('backup', 'instance', 'echo1copy@example.com', '--file', join(dir, 'echo1copy.apbk')).state, 'succeeded');
    await openInstance('echo1copy@example.com');
    await page.getByLabel('Also drop its database and database user').check();
    const button = page.getByRole('button', { name: 'Delete instance' });
    const ids = async () => ((await get('/instances')).instances as { id: string }[]).map((i) => i.id).sort();
    const before = await ids();
    assert.ok(before.includes('echo1copy@example.com'));
    await refuseTwice(button, 'Delete echo1copy@example.com and its database?', /dropped with all their data\. This cannot be undone/, async () => {
      assert.deepEqual(await ids(), before);
    });
    const dialog = await openDialog(button, 'Delete echo1copy@example.com and its database?', /cannot be undone/);
    await dialog.getByRole('button', { name: 'Delete instance and database' }).click();
    await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    assert.deepEqual(await ids(), before.filter((id) => id !== 'echo1copy@example.com'));
  });

  it("brings a deleted instance back from its backup on the page for new instances, as the seed's clean-up guide does", async () => {
    // The backup was downloaded before the delete (here: taken by ap ctl, and the instance deleted with its database).
    ctl('instance', 'create', 'gone1@example.com', '--service', 'echo', '--password', 'gone-pw');
    const file = join(dir, 'gone1.apbk');
    assert.equal(ctl('backup', 'instance', 'gone1@example.com', '--file', file).state, 'succeeded');
    ctl('instance', 'delete', 'gone1@example.com', '--drop-database');
    assert.equal(existsSync(file), true);
    await page.goto(`${base}/manager/#/new`);
    await page.getByRole('heading', { name: 'Restore an instance' }).waitFor();
    await page.setInputFiles('input[name=file]', file);
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.getByText(/restored gone1@example\.com/).waitFor({ timeout: 60_000 });
    assert.equal((await get('/instances/gone1%40example.com')).password, 'gone-pw');
    // Again: the instance exists now, and this form never overwrites one.
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.getByRole('main').getByRole('alert').filter({ hasText: /gone1@example\.com exists/ }).waitFor();
  });
});
