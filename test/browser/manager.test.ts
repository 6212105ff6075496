// The Manager in a real browser (Debian's headless Chromium driven by
// playwright-core): the forced password change, an instance created and
// running, its backup downloaded and restored under another name with the
// progress bar at 100 %, a bad certificate refused with its reason, moving
// charts. Screenshots go to test-output/ (not committed) for a person. Each
// test has its own browser session and the data it needs (issue 16, item 5):
// any one of them runs alone (--test-name-pattern); the box is
// manager-box.ts, shared with manager-pages.test.ts.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runApSync } from '../harness/supervisor';
import { base, browser, dir, login, markPasswordSet, missing, page, PASSWORD, root, shot, useManagerBox, usePage } from './manager-box';

useManagerBox();

describe('the Manager in a browser', { skip: missing ?? false }, () => {
  it('forces the change of the default password at the first login', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    usePage(context, await context.newPage());
    await page.goto(`${base}/manager/`);
    await page.fill('input[name=password]', 'pwd');
    await shot('01-login');
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Choose a new Manager password' }).waitFor();
    await page.fill('input[name=current]', 'pwd');
    await page.fill('input[name=new]', 'short');
    await page.click('button[type=submit]');
    await page.getByRole('alert').filter({ hasText: 'at least 8 characters' }).waitFor();
    await page.fill('input[name=new]', PASSWORD);
    await page.click('button[type=submit]');
    markPasswordSet();
    await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    await shot('02-home');
  });

  it('creates an instance of the example service and shows it running', async () => {
    await login();
    await page.getByRole('link', { name: 'New instance or app' }).first().click();
    await page.fill('input[name=name]', 'web1');
    await page.fill('input[name=domain]', 'example.com');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'web1@example.com' }).waitFor();
    await page.locator('dd .state.running').waitFor({ timeout: 30_000 });
    await page.locator('.tree').getByText('web1@example.com').waitFor();
    await shot('03-instance');
    // Edited live: path and trace flags.
    await page.fill('input[name=path]', '/moved/web1');
    await page.click('summary');
    await page.getByLabel('Database', { exact: true }).check();
    await page.click('form.card >> text=Save');
    await page.locator('.ok').filter({ hasText: 'saved' }).waitFor();
    await page.locator('dd').filter({ hasText: '/moved/web1' }).waitFor();
    await page.locator('dd').filter({ hasText: 'App, Database, App WebSocket' }).waitFor();
  });

  it('downloads its backup and restores it under another name, the progress bar reaching 100 %', async () => {
    assert.equal(runApSync(['ctl', 'instance', 'create', 'back1@example.com', '--service', 'echo', '--root', root]).status, 0);
    await login({ acceptDownloads: true });
    await page.goto(`${base}/manager/#/instance/back1%40example.com`);
    await page.getByRole('heading', { name: 'back1@example.com' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=Download backup')]);
    const file = join(dir, 'back1.apbk');
    await download.saveAs(file);
    assert.ok((await stat(file)).size > 1000);
    // The page follows the download on the event socket, to the end.
    await page.locator('[role=progressbar][aria-label="backup download"][aria-valuenow="100"]').waitFor();
    await page.getByText(/backup downloaded: [\d.]+ (bytes|KB|MB)$/).waitFor();
    await page.setInputFiles('input[name=file]', file);
    await page.fill('input[name=clone]', 'back2');
    await page.click('text=Restore >> nth=-1');
    await page.locator('[role=progressbar][aria-valuenow="100"]').waitFor({ timeout: 60_000 });
    await page.getByText(/restored back2@example\.com/).waitFor();
    await page.locator('.tree').getByText('back2@example.com').waitFor({ timeout: 10_000 }).catch(async () => {
      await page.reload();
      await page.locator('.tree').getByText('back2@example.com').waitFor();
    });
    await shot('04-restored');
  });

  it('refuses a bad certificate with its reason', async () => {
    await login();
    await page.click('header >> text=Settings');
    await page.getByRole('navigation', { name: 'Settings sections', exact: true }).getByRole('link', { name: 'Security' }).click();
    await page.fill('textarea[name=pem]', '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    await page.click('text=Upload certificate');
    // Said beside its button.
    const alert = page.locator('.action', { has: page.getByRole('button', { name: 'Upload certificate' }) }).getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /private key|certificate/i);
    await page.goto(`${base}/manager/#/settings/alarms`);
    await page.click('text=Send test mail');
    await page.getByRole('alert').filter({ hasText: 'set the SMTP server' }).waitFor();
    // A setting refused with the reason under it, then saved.
    const threshold = page.locator('.field', { has: page.locator('input[name=diskThreshold]') });
    const save = page.getByRole('button', { name: 'Save', exact: true });
    await threshold.locator('input').fill('120');
    await save.click();
    await threshold.getByText('not a percentage').waitFor();
    await threshold.locator('input').fill('90');
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved Alarms and events: threshold' }).waitFor();
    // A setting with a few valid values is a list of them.
    await page.goto(`${base}/manager/#/settings/smtp`);
    const mode = page.locator('.field', { has: page.locator('select[name=smtpSecurity]') });
    assert.deepEqual(await mode.locator('option').allTextContents(), ['none', 'starttls', 'tls']);
    await mode.locator('select').selectOption('tls');
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved SMTP: none, starttls or tls' }).waitFor();
    const saved = (await page.evaluate("fetch('/manager/api/settings').then((r) => r.json()).then((b) => b.settings.smtpSecurity.value)")) as string;
    assert.equal(saved, 'tls');
    await shot('05-settings');
  });

  it('shows moving charts on the System page', async () => {
    await login();
    await page.click('header >> text=System');
    const points = async () => {
      const response = await page.waitForResponse((r) => r.url().includes('/manager/api/metrics/ap_cpu_percent'), { timeout: 15_000 });
      return ((await response.json()) as { points: unknown[] }).points.length;
    };
    const first = await points();
    const later = await points();
    assert.ok(later > first, `${first} → ${later} points`);
    assert.equal(await page.locator('figure.chart canvas').count() >= 4, true);
    await page.getByText('Boot partition (p1), used').waitFor(); // every partition the box reports
    await page.getByText('CPU of echo, % of one core').waitFor(); // and every service
    await shot('06-system');
    await page.setViewportSize({ width: 360, height: 740 });
    await shot('07-system-360px');
    // Evaluated in the page (a string: this file is not type-checked against the DOM).
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    assert.ok(overflow <= 1, `the page is ${overflow} px wider than a 360 px screen`);
    await page.setViewportSize({ width: 1200, height: 800 });
  });
});
