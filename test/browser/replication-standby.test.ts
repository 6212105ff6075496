// The Replication page's standby side, driven as a person would: box B (an
// app of its own) refuses a bad primary, asks before it removes its apps and
// names them, says what a wrong password means; then becomes A's standby from
// the page, waits through the switch, asks for a new login and shows the
// link streaming; offers another primary with its own question; and is
// promoted to a standalone box from the page, writable after (checked
// through the API). B's Manager has a fixed port: the switch composes the
// supervisor again, and the browser must find it where it was.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildFixture, runApSync } from '../harness/supervisor';
import { workspace } from '../harness/workspace';
import { freePort } from '../replication/clients';
import { ctl, inMode, shown, startBox, stopBoxes, streamingFrom, type Box } from '../replication/boxes';
import { accessibilityProblems, missing } from './dangerous-box';
import { session, type Session } from './session';

const CHROMIUM = process.env.AP_CHROMIUM ?? '/usr/bin/chromium';
const PASSWORD = 'standby-page-pass-2026';

describe('the Manager replication page on the standby side', { skip: missing ?? false }, () => {
  let dir: string;
  let a: Box;
  let b: Box;
  let base: string;
  let standbyPassword: string;
  let browser: Browser;
  let own: Session;
  let page: Page;

  before(async () => {
    dir = await workspace('ap-repl-standby-ui-');
    a = await startBox(dir, 'a');
    ctl(a, 'replication', 'mode', 'primary');
    standbyPassword = (ctl(a, 'replication', 'add', 'b.example.com') as { password: string }).password;
    const managerPort = await freePort();
    b = await startBox(dir, 'b', ['--manager-http-port', String(managerPort)]);
    base = `http://127.0.0.1:${managerPort}`;
    ctl(b, 'password', PASSWORD);
    assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', b.root]).status, 0);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    own = await session(browser, base, PASSWORD);
    page = own.page;
  });

  after(async () => {
    await own?.close();
    await browser?.close();
    await stopBoxes();
    await rm(dir, { recursive: true, force: true });
  });

  const primaryA = () => `127.0.0.1:${a.pgPort}`;
  const fill = async (primary: string, name: string, password: string) => {
    await page.getByLabel(/^Primary/).fill(primary);
    await page.getByLabel(/^Standby name/).fill(name);
    await page.getByLabel(/^Password/).fill(password);
  };
  /** After a switch: the page waits, then the login says why; logged in again, the Replication page is back. */
  const loginAfterSwitch = async (said: RegExp) => {
    await page.locator('.switching').waitFor({ timeout: 30_000 });
    const note = page.locator('.switched');
    await note.waitFor({ timeout: 120_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nthe page says: ${await page.locator('main, body').first().textContent()}\nB's log ends:\n${b.run.output.text.split('\n').slice(-40).join('\n')}`);
    });
    assert.match((await note.textContent()) ?? '', said);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'Replication', exact: true }).waitFor();
  };

  it('refuses a bad primary at once, asks before removing the apps (naming them) and explains a wrong password, changing nothing', async () => {
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Replication' }).click();
    await page.getByRole('heading', { name: 'Set up as standby' }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), []);

    await fill('bad host', 'b.example.com', standbyPassword);
    await page.getByRole('button', { name: 'Become a standby' }).click();
    const alert = page.locator('.setup-error');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /not a host name or IP address.*INVALID_FIELD/);
    assert.equal(await page.getByLabel(/^Primary/).getAttribute('aria-invalid'), 'true');

    // Unconfirmed: the dialog with what the box says goes; Cancel changes nothing.
    await fill(primaryA(), 'b.example.com', `${standbyPassword}x`);
    await page.getByRole('button', { name: 'Become a standby' }).click();
    const dialog = page.getByRole('dialog', { name: `Make this box a standby of ${primaryA()}?` });
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /All locally installed apps are removed.*services echo; instances none/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(shown(b)!.mode, 'off');

    // Confirmed with a wrong password: the primary refuses, the page says what to do.
    await page.getByRole('button', { name: 'Become a standby' }).click();
    await dialog.getByRole('button', { name: 'Remove the apps and become a standby' }).click();
    await page.locator('.setup-error', { hasText: 'STANDBY_AUTH' }).waitFor({ timeout: 60_000 });
    assert.match((await alert.textContent()) ?? '', /refused the password: enter it exactly as/);
    assert.equal(shown(b)!.mode, 'off');
    assert.ok((ctl(b, 'service', 'list') as { name: string }[]).some((s) => s.name === 'echo'), 'its app is still there');
  });

  it('becomes a standby from the page: the switch, a new login, then the primary and the link streaming', async () => {
    await page.getByLabel(/^Password/).fill(standbyPassword);
    await page.getByRole('button', { name: 'Become a standby' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove the apps and become a standby' }).click();
    await loginAfterSwitch(/took its copy of 127\.0\.0\.1:\d+ and is starting again as a standby/);
    assert.equal(await page.locator('.mode').textContent(), 'standby');
    assert.equal(await page.locator('dd.primary').textContent(), primaryA());
    assert.equal(await page.locator('dd.standby-name').textContent(), 'b.example.com');
    await streamingFrom(b, a);
    // The page looks again every 10 s.
    await page.locator('dd.streaming', { hasText: /^yes since / }).waitFor({ timeout: 30_000 });
    assert.match((await page.locator('dd.replayed').textContent()) ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.deepEqual(await accessibilityProblems(page), []);
  });

  it('asks before following another primary: a full copy again', async () => {
    await page.getByRole('button', { name: 'Follow another primary' }).click();
    assert.equal(await page.getByLabel(/^Standby name/).inputValue(), 'b.example.com');
    await page.getByLabel(/^Primary/).fill('127.0.0.1:5999');
    await page.getByLabel(/^Password/).fill('x');
    await page.getByRole('button', { name: 'Follow this primary' }).click();
    const dialog = page.getByRole('dialog', { name: `Follow 127.0.0.1:5999 instead of ${primaryA()}?` });
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /takes a full copy of the database of 127\.0\.0\.1:5999 again/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(shown(b)!.standby!.primary.port, a.pgPort);
  });

  it('promotes to a standalone box only when confirmed; it is writable after', async () => {
    const promote = page.getByRole('button', { name: 'Promote to standalone (off)' });
    await promote.click();
    const dialog = page.getByRole('dialog', { name: 'Promote to a standalone box (off)?' });
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', new RegExp(`stops following ${primaryA().replace(/\./g, '\\.')} for good`));
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(shown(b)!.mode, 'standby');

    await promote.click();
    await dialog.getByRole('button', { name: 'Promote to standalone' }).click();
    await loginAfterSwitch(/was promoted: it starts again as a standalone box/);
    await page.getByRole('button', { name: 'Make this box a primary' }).waitFor();
    assert.equal(await page.locator('.mode').textContent(), 'off');
    assert.equal((await inMode(b, 'off')).mode, 'off');
    assert.equal(existsSync(join(b.root, 'home/root/standby.conf')), false);
    // Writable: a setting goes into its own database now (a standby's would go to standby.conf).
    ctl(b, 'setting', 'set', 'devicesAppUrl', 'https://devices.b.example.com');
    assert.equal((ctl(b, 'setting', 'list') as { settings: Record<string, { value: string }> }).settings.devicesAppUrl!.value, 'https://devices.b.example.com');
  });
});
