// Home as a dashboard, in a real browser at 1280 and 360 px (manager-box.ts):
// the overall line, a card each for services, instances (with the last
// backup once one was made), disk with percent, memory, update and
// replication, nothing wider than the screen; an alarm with its severity in
// words, its time, what to do and a link that leads to the right page; an
// instance's path linked as on its own page (with the DNS name); Update
// leading to the App Store URL while there is none; the
// page with the forms (an instance created there, the upload form only in
// Developer mode). Screenshots: dashboard-1280, dashboard-360,
// dashboard-alarm-1280, dashboard-new-1200 and dashboard-new-360.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { until } from '../harness/http';
import { runApSync } from '../harness/supervisor';
import { base, dir, login, missing, page, root, shot, useManagerBox } from './manager-box';
import { UNWRITABLE_FILE } from '../harness/workspace';

useManagerBox();

const ctl = (...args: string[]) => runApSync(['ctl', ...args, '--root', root]);
const card = (p: Page, title: string) => p.locator('section.tile', { has: p.getByRole('heading', { name: title, exact: true }) });
/** Nothing wider than the screen: [] or the page's width and what sticks out (tag.class, its right edge). */
const overflow = async (p: Page) =>
  (await p.evaluate(
    "document.documentElement.scrollWidth <= window.innerWidth ? [] : [`page ${document.documentElement.scrollWidth} px`, ...[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(-5).map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)]",
  )) as string[];

describe('Home as a dashboard', { skip: missing ?? false }, () => {
  it('shows the box at a glance at 1280 and 360 px, with the last backup once one was made', async () => {
    await login();
    await page.setViewportSize({ width: 1280, height: 900 });
    const instances = card(page, 'Instances');
    const base1 = instances.getByRole('listitem').filter({ hasText: 'base1@example.com' });
    // Never backed up: a warning, and the one problem the overall line counts.
    await base1.getByText('Warning: No backup yet').waitFor();
    await page.getByRole('status').filter({ hasText: '1 problem needs attention' }).waitFor();

    const backedUp = ctl('backup', 'instance', 'base1@example.com', '--file', join(dir, 'base1.apbk'));
    assert.equal(backedUp.status, 0, backedUp.stderr);
    // The finished job arrives on the event socket: no reload.
    await base1.getByText(/^Last backup just now \([\d.]+ KB\)$/).waitFor();
    assert.equal(await base1.getByText('Warning: No backup yet').count(), 0);
    await page.getByRole('status').filter({ hasText: /^All is well$/ }).waitFor();

    await page.getByText(/^Version \S+ \(build \S+\), board dev, up \d/).waitFor();
    await page.getByText('No active alarms.').waitFor();
    const echo = card(page, 'Services').getByRole('listitem').filter({ hasText: 'echo' });
    await echo.getByText('running').waitFor();
    await echo.getByText(/^No crash on record$|^Last crash/).waitFor();
    assert.equal(await echo.getByRole('link', { name: 'echo' }).getAttribute('href'), '#/service/echo');
    // The instance's path is a link to the app, on the apps' port.
    const status = (await page.evaluate("fetch('/manager/api/status').then((r) => r.json())")) as { http: { port: number } };
    assert.equal(await base1.getByRole('link', { name: '/example.com/base1' }).getAttribute('href'), `http://127.0.0.1:${status.http.port}/example.com/base1`);
    await card(page, 'Disk').getByText(/^p2 \(data\): [\d.]+ (KB|MB|GB|TB) of [\d.]+ (MB|GB|TB) used, [\d.]+ %$/).waitFor();
    await card(page, 'Disk').getByText(/the apps are stopped at 95 %/).waitFor();
    await card(page, 'Memory').getByText(/^[\d.]+ (MB|GB) of [\d.]+ (MB|GB) taken, [\d.]+ %$/).waitFor();
    await card(page, 'Update').getByText(/^(Up to date: image|Image \d+ is available|Cannot ask the App Store)/).waitFor();
    await card(page, 'Replication').getByText("Off: no standby copies this box's data.").waitFor();
    // Each card leads to where one acts.
    for (const [title, target] of [['Services', '#/store'], ['Instances', '#/new'], ['Disk', '#/system'], ['Memory', '#/system'], ['Update', '#/settings/update'], ['Replication', '#/replication']] as const) {
      assert.equal(await card(page, title).locator('p.act a').getAttribute('href'), target, title);
    }
    assert.deepEqual(await overflow(page), [], 'no horizontal overflow at 1280 px');
    await shot('dashboard-1280');

    await page.setViewportSize({ width: 360, height: 740 });
    assert.deepEqual(await overflow(page), [], 'no horizontal overflow at 360 px');
    for (const title of ['Services', 'Instances', 'Disk', 'Memory', 'Update', 'Replication']) assert.ok(await card(page, title).getByRole('heading').isVisible(), title);
    await shot('dashboard-360');
  });

  it('lists an alarm with its severity in words, its time, what to do and a link to the page where one does it', async () => {
    await login();
    await page.setViewportSize({ width: 1280, height: 900 });
    // A backup that cannot be written raises BACKUP_FAILED for its instance.
    assert.notEqual(ctl('backup', 'instance', 'base1@example.com', '--file', UNWRITABLE_FILE).status, 0);
    const alarm = page.locator('ul.alarms li').filter({ hasText: 'BACKUP_FAILED' });
    await alarm.waitFor();
    assert.equal(await alarm.locator('.severity').textContent(), 'Major');
    const time = alarm.locator('time');
    assert.equal(await time.textContent(), 'just now');
    assert.match((await time.getAttribute('title')) ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    await alarm.getByText(/^What to do: Read why it failed/).waitFor();
    await page.getByRole('status').filter({ hasText: '1 problem needs attention' }).waitFor();
    await card(page, 'Instances').getByText(/^The last backup failed just now: /).waitFor();
    assert.deepEqual(await overflow(page), [], 'no horizontal overflow at 1280 px');
    await shot('dashboard-alarm-1280');
    await page.setViewportSize({ width: 360, height: 740 });
    assert.deepEqual(await overflow(page), [], 'no horizontal overflow at 360 px with an alarm');
    // Acknowledged: still listed, quieter, and no longer a problem nobody looks at.
    await alarm.getByRole('button', { name: /^Acknowledge: / }).click();
    await alarm.getByText(/^Acknowledged just now; it stays here until its cause is gone\.$/).waitFor();
    await page.getByRole('status').filter({ hasText: 'Nothing new needs attention (1 acknowledged alarm is still active)' }).waitFor();
    assert.equal(await alarm.getByRole('button', { name: /^Acknowledge/ }).count(), 0);

    await alarm.getByRole('link', { name: 'Go to Instance base1@example.com' }).click();
    await page.getByRole('heading', { name: 'base1@example.com', exact: true }).waitFor();
    // Backed up again: the alarm clears.
    assert.equal(ctl('backup', 'instance', 'base1@example.com', '--file', join(dir, 'base1-again.apbk')).status, 0);
    await page.goto(`${base}/manager/#/`);
    await page.getByText('No active alarms.').waitFor();
  });

  it('keeps the forms on their own page: the service chosen, an instance created, the upload only in Developer mode', async () => {
    await login();
    await page.locator('.tree').getByRole('link', { name: 'New instance or app' }).click();
    await page.getByRole('heading', { name: 'New instance or app', exact: true }).waitFor();
    // The installed service shows as chosen before anyone picks it.
    await page.locator('select[name=service] option').first().waitFor({ state: 'attached' });
    assert.equal(await page.locator('select[name=service]').inputValue(), 'echo');
    // Developer mode is off: no upload form, but where to turn it on.
    await page.getByText(/Installing an app from a file needs Developer mode, which is off/).waitFor();
    assert.equal(await page.locator('input[name=package]').count(), 0);
    assert.equal(ctl('setting', 'set', 'developerMode', 'true').status, 0);
    await page.locator('input[name=package]').waitFor();
    assert.equal(ctl('setting', 'set', 'developerMode', 'false').status, 0);
    await page.locator('input[name=package]').waitFor({ state: 'detached' });

    await shot('dashboard-new-1200');
    await page.setViewportSize({ width: 360, height: 740 });
    assert.deepEqual(await overflow(page), [], 'the forms page: no horizontal overflow at 360 px');
    await shot('dashboard-new-360');
    await page.setViewportSize({ width: 1200, height: 800 });
    await page.fill('input[name=name]', 'dash1');
    await page.fill('input[name=domain]', 'example.com');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'dash1@example.com', exact: true }).waitFor();
    await page.goto(`${base}/manager/#/`);
    await card(page, 'Instances').getByRole('link', { name: 'dash1@example.com' }).waitFor();
  });

  it("links an instance's path to the same address as its own page does: the App Platform DNS name once it is set", async () => {
    assert.equal(ctl('setting', 'set', 'dnsName', 'apps.example.com').status, 0);
    try {
      await login();
      const link = card(page, 'Instances').getByRole('link', { name: '/example.com/base1' });
      await until('the link with the DNS name', async () => ((await link.getAttribute('href')) === 'https://apps.example.com/example.com/base1' ? true : undefined));
      await page.goto(`${base}/manager/#/instance/${encodeURIComponent('base1@example.com')}`);
      assert.equal(await page.getByRole('link', { name: '/example.com/base1' }).getAttribute('href'), 'https://apps.example.com/example.com/base1');
    } finally {
      assert.equal(ctl('setting', 'set', 'dnsName', '').status, 0);
    }
  });

  it('leads to where the App Store URL is set when there is none, since nothing can be updated without it', async () => {
    await login();
    const update = card(page, 'Update');
    await update.getByRole('link', { name: 'Update in Settings' }).waitFor();
    const store = ((await page.evaluate("fetch('/manager/api/settings').then((r) => r.json())")) as { settings: { appStoreUrl: { value: string } } }).settings.appStoreUrl.value;
    assert.equal(ctl('setting', 'set', 'appStoreUrl', '').status, 0);
    try {
      await page.reload();
      await update.getByText(/^Cannot ask the App Store: set the App Store URL first/).waitFor();
      const link = update.getByRole('link', { name: 'Set the App Store URL in Settings' });
      assert.equal(await link.getAttribute('href'), '#/settings/general');
      await link.click();
      await page.getByRole('textbox', { name: /App Store URL/ }).waitFor();
    } finally {
      assert.equal(ctl('setting', 'set', 'appStoreUrl', store).status, 0);
    }
  });
});
