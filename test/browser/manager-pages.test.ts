// The Manager in a real browser, its pages (as manager.test.ts, on the same
// kind of box: manager-box.ts): a service restarted with its log, an app
// installed from the App Store and uninstalled, an API token made (shown once)
// and revoked, an instance's last backup on its page, the budget's sizes on
// one line at 360 px, the accessibility check on every page and at 360 px, the
// keyboard alone, logout. Each test has its own session.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fetchRaw } from '../harness/http';
import { runApSync } from '../harness/supervisor';
import { bytes } from '../../src/ui/format';
import { accessibilityProblems, base, browser, dir, ensurePassword, login, missing, page, PASSWORD, root, shot, useManagerBox } from './manager-box';
import { UNWRITABLE_FILE } from '../harness/workspace';

useManagerBox();

describe('the Manager in a browser: its pages', { skip: missing ?? false }, () => {
  it('shows a service: restart, its log, its last crash', async () => {
    await login();
    await page.locator('.tree').getByRole('link', { name: /^echo/ }).click();
    await page.getByRole('heading', { name: 'echo', exact: true }).waitFor();
    await page.getByText('No crash recorded.').waitFor();
    const pid = async () => (await page.evaluate("fetch('/manager/api/services/echo').then((r) => r.json()).then((s) => s.pid)")) as number;
    const before = await pid();
    await page.getByRole('button', { name: 'Restart' }).click();
    // A restart cuts every instance's connections: it asks first (test/browser/dangerous.test.ts has the rest).
    await page.getByRole('dialog', { name: 'Restart echo?' }).getByRole('button', { name: 'Restart echo' }).click();
    // The state arrives pushed on the event socket: no reload.
    await page.locator('dd', { has: page.locator('.state.running'), hasNotText: new RegExp(`pid ${before}$`) }).waitFor({ timeout: 30_000 });
    assert.notEqual(await pid(), before);
    await page.getByRole('button', { name: 'Reload log' }).click();
    await page.getByLabel('Log of echo').waitFor();
    // What its cgroup counts, and the limits setting applied from the form.
    await page.getByText(/^Memory [\d.]+ MB of \d+ MB \(peak [\d.]+ MB\), CPU [\d.]+ s; CPU weight 100, at most \d+ processes; limits from: memoryMB board, /).waitFor();
    await page.getByLabel('Memory in MB with no instance').fill('300');
    await page.getByRole('button', { name: 'Save limits' }).click();
    await page.getByText(/limits from: memoryMB setting, instanceMB board/).waitFor();
    const limits = (await page.evaluate("fetch('/manager/api/services/echo').then((r) => r.json()).then((s) => s.limits)")) as { memoryMB: number; source: { memoryMB: string } };
    assert.deepEqual([limits.memoryMB, limits.source.memoryMB], [300, 'setting']);
    await page.getByLabel('Memory in MB with no instance').fill('');
    await page.getByRole('button', { name: 'Save limits' }).click();
    await page.getByText(/limits from: memoryMB board, /).waitFor();
    await shot('08-service');
  });

  it('installs an app from the App Store, the progress bar reaching 100 %', async () => {
    await login();
    await page.click('header >> text=App Store');
    await page.getByRole('heading', { name: 'Hello' }).waitFor();
    await page.getByText('hello · Tests · not installed').waitFor();
    await page.getByRole('button', { name: 'Install' }).click();
    await page.locator('[role=progressbar][aria-valuenow="100"]').waitFor({ timeout: 30_000 });
    await page.getByText(/installed hello 2\.1\.0 \(build 210007\) from the App Store/).first().waitFor();
    await page.locator('.tree').getByRole('link', { name: /^hello/ }).waitFor();
    await page.getByText('installed: 2.1.0 (210007)').waitFor();
    await page.getByRole('button', { name: 'Reinstall' }).waitFor();
    await shot('09-store');
  });

  it('shows the memory budget on the System page: total, kernel, supervisor, PostgreSQL with its connections, each service, free', async () => {
    await login();
    await page.goto(`${base}/manager/#/system`);
    await page.getByRole('heading', { name: 'Memory budget' }).waitFor();
    const budget = (await page.evaluate("fetch('/manager/api/system/budget').then((r) => r.json())")) as { totalBytes: number; postgres: { connections: number } };
    const row = (name: string | RegExp) => page.locator('table.budget tr', { has: page.locator('th', { hasText: name }) });
    assert.match(await row('Total').innerText(), new RegExp(bytes(budget.totalBytes)));
    for (const name of ['Kernel', 'Supervisor', 'PostgreSQL', 'Service echo', 'Free']) await row(name).waitFor();
    assert.match(await row('PostgreSQL').innerText(), /\d+ connections? \(\d+ the supervisor's\), ~[\d.]+ (KB|MB) each/);
    assert.match(await row('Service echo').innerText(), /running; 512 MB \+ 32 MB × \d+ instances?/);
    await page.getByRole('img', { name: /^[\d.]+ (KB|MB|GB) free of [\d.]+ (MB|GB|TB)$/ }).waitFor();
    await shot('10-budget');
    // At 360 px a size stays on one line ("23.5 GB", not "23.5" over "GB").
    await page.setViewportSize({ width: 360, height: 740 });
    const wrapped = await page.evaluate(
      "[...document.querySelectorAll('table.budget td:nth-child(2)')].filter((td) => { const r = document.createRange(); r.selectNodeContents(td); return new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size > 1; }).map((td) => td.textContent)",
    );
    assert.deepEqual(wrapped, [], 'sizes broken over two lines at 360 px');
  });

  it("shows an instance's last backup on its page: a failed attempt with its reason, then the success with its size", async () => {
    await login();
    await page.goto(`${base}/manager/#/instance/${encodeURIComponent('base1@example.com')}`);
    await page.getByRole('heading', { name: 'base1@example.com', exact: true }).waitFor();
    const backup = page.locator('dl.fields dt:text-is("Backup") + dd');
    // Where the backup alarm's link leads ("Read why it failed"): the reason is here.
    assert.notEqual(runApSync(['ctl', 'backup', 'instance', 'base1@example.com', '--file', UNWRITABLE_FILE, '--root', root]).status, 0);
    await backup.getByText(/^The last backup failed just now: .*ap-unwritable/).waitFor();
    assert.equal(runApSync(['ctl', 'backup', 'instance', 'base1@example.com', '--file', join(dir, 'pages-base1.apbk'), '--root', root]).status, 0);
    await backup.getByText(/^Last backup just now \([\d.]+ KB\)$/).waitFor();
    assert.doesNotMatch(await backup.innerText(), /failed|Warning/);
  });

  it('makes an API token, shows it once with a copy button, and revokes it after asking', async () => {
    await login();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    await page.click('header >> text=API tokens');
    await page.getByRole('heading', { name: 'API tokens', exact: true }).waitFor();
    await page.getByText('No tokens yet.').waitFor();
    await page.getByLabel(/^Name/).fill('browser-made');
    await page.getByLabel(/read: read the state/).uncheck();
    await page.getByLabel(/metrics: \/manager\/metrics only/).check();
    await page.getByLabel(/^Expires after days/).fill('30');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByText('Copy it now: it is not shown again').waitFor();
    const token = await page.locator('.created-token code.token').innerText();
    assert.match(token, /^apt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    await page.getByRole('button', { name: 'Copy the token browser-made' }).click();
    await page.getByRole('button', { name: 'Copied the token browser-made' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), token);
    const row = page.locator('tr[data-token="browser-made"]');
    assert.match(await row.innerText(), /metrics\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+never/); // times as every page shows them
    await shot('11-tokens');
    // A real token, with the scope chosen: the API is refused to it, by scope.
    const answer = await fetchRaw(`${base}/manager/api/services`, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual([answer.status, JSON.parse(answer.body.toString()).error.code], [403, 'TOKEN_SCOPE']);
    // Never shown again: not after a reload.
    await page.reload();
    await row.waitFor();
    assert.equal(await page.locator('.created-token').count(), 0);
    assert.ok(!(await page.content()).includes(token.slice(-43)));
    await row.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('dialog', { name: 'Revoke token browser-made?' }).getByRole('button', { name: 'Revoke token' }).click();
    await row.waitFor({ state: 'detached' });
    assert.equal((await fetchRaw(`${base}/manager/api/services`, { headers: { authorization: `Bearer ${token}` } })).status, 401);
  });

  it('passes an automated accessibility check (axe-core, WCAG 2.1 AA) on every page', async () => {
    await login();
    const problems: string[] = [];
    for (const [route, heading] of [
      ['#/', 'App Platform'],
      ['#/new', 'New instance or app'],
      ['#/instance/base1%40example.com', 'base1@example.com'],
      ['#/service/echo', 'echo'],
      ['#/settings', 'Settings'],
      ['#/replication', 'Replication'],
      ['#/system', 'System'],
      ['#/diagnostics', 'Diagnostics'],
      ['#/boot', 'Boot settings'],
      ['#/rescue-log', 'Rescue system log'],
      ['#/store', 'App Store'],
      ['#/tokens', 'API tokens'],
      ['#/password', 'Change the Manager password'],
    ] as const) {
      await page.goto(`${base}/manager/${route}`);
      await page.getByRole('heading', { name: heading, exact: true }).waitFor();
      problems.push(...(await accessibilityProblems(page)).map((p) => `${route}: ${p}`));
      // Usable on a 360 px phone: nothing wider than the screen.
      await page.setViewportSize({ width: 360, height: 740 });
      const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
      if (overflow > 1) problems.push(`${route}: ${overflow} px wider than a 360 px screen`);
      await page.setViewportSize({ width: 1200, height: 800 });
    }
    assert.deepEqual(problems, []);
  });

  it('works from the keyboard alone', async () => {
    ensurePassword();
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const keys = await context.newPage();
    try {
      await keys.goto(`${base}/manager/`);
      assert.deepEqual(await accessibilityProblems(keys), [], 'the login page');
      // The password field has the focus from the start.
      await keys.keyboard.type(PASSWORD);
      await keys.keyboard.press('Enter');
      await keys.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
      /** Tabs until the focused element matches `selector`; fails after 60 presses. */
      const tabTo = async (selector: string) => {
        for (let i = 0; i < 60; i++) {
          await keys.keyboard.press('Tab');
          if ((await keys.evaluate(`!!document.activeElement && document.activeElement.matches(${JSON.stringify(selector)})`)) as boolean) return;
        }
        assert.fail(`Tab never reached ${selector}`);
      };
      // A new instance, from the form, by keyboard (once the page knows the services): its page is reached by its link.
      await tabTo('a[href="#/new"]');
      await keys.keyboard.press('Enter');
      await keys.getByRole('heading', { name: 'New instance or app', exact: true }).waitFor();
      await keys.locator('select[name=service] option').first().waitFor({ state: 'attached' });
      await tabTo('input[name=name]');
      await keys.keyboard.type('keys1');
      await keys.keyboard.press('Tab');
      await keys.keyboard.type('example.com');
      await keys.keyboard.press('Enter');
      await keys.getByRole('heading', { name: 'keys1@example.com' }).waitFor();
      // The focus ring shows where the keyboard is.
      await tabTo('button');
      const outline = (await keys.evaluate('getComputedStyle(document.activeElement).outlineStyle')) as string;
      assert.notEqual(outline, 'none');
      // To Settings by its link, and a setting saved with Enter.
      await tabTo('a[href="#/settings"]');
      await keys.keyboard.press('Enter');
      await keys.getByRole('heading', { name: 'Settings', exact: true }).waitFor();
      await tabTo('input[name=dbOptimizationHour]');
      await keys.keyboard.press('Control+A');
      await keys.keyboard.type('4');
      await keys.keyboard.press('Enter');
      await keys.getByRole('status').filter({ hasText: 'Saved Database optimization time.' }).waitFor();
      // The sections' tabs are links, reached by Tab too.
      await tabTo('a[href="#/settings/smtp"]');
      await keys.keyboard.press('Enter');
      await keys.getByRole('heading', { name: 'SMTP (the mail server)' }).waitFor();
      // The trace flags open with the keyboard (details/summary).
      await keys.goto(`${base}/manager/#/instance/keys1%40example.com`);
      await keys.getByRole('heading', { name: 'keys1@example.com' }).waitFor();
      await tabTo('summary');
      await keys.keyboard.press('Enter');
      await keys.getByLabel('Database', { exact: true }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('uninstalls a service from its page after asking, shows the outcome, and the service leaves the tree', async () => {
    await login();
    // hello, installed from the App Store above, has no instances.
    await page.locator('.tree').getByRole('link', { name: /^hello/ }).click();
    await page.getByRole('heading', { name: 'hello', exact: true }).waitFor();
    await page.getByLabel('Keep its logs').check();
    await page.getByRole('button', { name: 'Uninstall', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Uninstall hello?' });
    await dialog.getByText(/Its logs are kept\./).waitFor();
    await dialog.getByRole('button', { name: 'Uninstall hello' }).click();
    await page.getByRole('status').getByText(/uninstalled hello; its logs are kept/).waitFor({ timeout: 30_000 });
    await page.locator('.tree').getByRole('link', { name: /^hello/ }).waitFor({ state: 'detached' });
    const status = (await page.evaluate("fetch('/manager/api/services/hello').then((r) => r.status)")) as number;
    assert.equal(status, 404);
  });

  it('says so, under the page\'s heading, when an instance or a service is not on the box (a bookmark of one deleted)', async () => {
    await login();
    for (const [hash, name] of [['#/instance/gone%40example.com', 'gone@example.com'], ['#/service/nosuchservice', 'nosuchservice']] as const) {
      await page.goto(`${base}/manager/${hash}`);
      await page.getByRole('heading', { name, exact: true }).waitFor();
      await page.getByRole('alert').filter({ hasText: name }).waitFor();
      await page.getByRole('main').getByRole('link', { name: 'Back to Home' }).click();
      await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    }
  });

  it('logs out', async () => {
    await login();
    await page.click('text=Log out');
    await page.locator('input[name=password]').waitFor();
    const status = (await page.evaluate("fetch('/manager/api/instances').then((r) => r.status)")) as number;
    assert.equal(status, 401);
  });
});
