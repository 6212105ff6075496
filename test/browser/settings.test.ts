// Settings in sections, in a real browser (the box of manager-box.ts): a
// page per section reached by its tab at 1280 px and by the compact menu at
// 360 px, the current one marked, its heading in view, nothing wider than the
// screen; one Save per section that saves all or nothing with the reason under
// the refused field; a button's failure beside the button; a question before
// unsaved changes are left. What was saved is checked through the API.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SETTINGS_SECTIONS } from '../../src/ui/routes';
import { SECTION_SETTINGS } from '../../src/ui/settings-sections';
import { accessibilityProblems, base, login, missing, page, shot, useManagerBox } from './manager-box';

useManagerBox();

/** The settings as the API shows them (evaluated in the page, with its session). */
const setting = async (name: string) => (await page.evaluate(`fetch('/manager/api/settings').then((r) => r.json()).then((b) => b.settings[${JSON.stringify(name)}].value)`)) as string;
const overflow = async () => (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;
const heading = (section: (typeof SETTINGS_SECTIONS)[number]) => page.getByRole('heading', { level: 2, name: SECTION_SETTINGS[section].heading ?? SECTION_SETTINGS[section].title, exact: true });
/** The field of setting `name` in the open section: its control, its error. */
const field = (name: string) => page.locator('.settings-form .field', { has: page.locator(`[name="${name}"]`) });

/** What a section's cards show once they have read the box. */
const LOADED: Partial<Record<(typeof SETTINGS_SECTIONS)[number], RegExp>> = { security: /^Now: /, backups: /backup key|encrypted with key/i, update: /^Running Manager/ };

/** Asserts that the whole of `box` is inside the window, unscrolled. */
async function inView(what: string, box: { y: number; height: number } | null, height: number): Promise<void> {
  assert.ok(box && box.y >= 0 && box.y + box.height <= height, `${what} is not in view without scrolling: ${JSON.stringify(box)}`);
}

describe('Settings in sections', { skip: missing ?? false }, () => {
  it('at 1280 px: a tab per section, the current one marked, its heading in view, no overflow, the longest page well under the old 4,645 px', async () => {
    await login();
    await page.setViewportSize({ width: 1280, height: 800 });
    // The old address (a bookmark of the one long page) opens the first section.
    await page.goto(`${base}/manager/#/settings`);
    await heading('general').waitFor();
    const tabs = page.getByRole('navigation', { name: 'Settings sections', exact: true });
    const heights: Record<string, number> = {};
    for (const section of SETTINGS_SECTIONS) {
      await tabs.getByRole('link', { name: SECTION_SETTINGS[section].title, exact: true }).click();
      await heading(section).waitFor();
      assert.equal(new URL(page.url()).hash, `#/settings/${section}`);
      assert.deepEqual(await tabs.locator('[aria-current="page"]').allTextContents(), [SECTION_SETTINGS[section].title]);
      await inView(`the heading of ${section}`, await heading(section).boundingBox(), 800);
      assert.ok((await overflow()) <= 0, `${section} is wider than the window`);
      // Loaded (its settings' Save, what its cards read) before it is measured and pictured.
      if (SECTION_SETTINGS[section].fields.length + SECTION_SETTINGS[section].later.length > 0) await page.getByRole('button', { name: 'Save', exact: true }).waitFor();
      const loaded = LOADED[section];
      if (loaded) await page.getByText(loaded).first().waitFor();
      heights[section] = (await page.evaluate('document.documentElement.scrollHeight')) as number;
      await shot(`settings-${section}-1280`);
    }
    console.log(`# page heights at 1280 px: ${JSON.stringify(heights)}`);
    // Measured: General, the longest, is about 1,500 px (one page of all was 4,645).
    const longest = Math.max(...Object.values(heights));
    assert.ok(longest < 2000, `the longest section is ${longest} px tall`);
    assert.deepEqual(await accessibilityProblems(page), [], 'the last section');
    // The Linux passwords where the board sets them; where it does not, a line says so instead of forms that fail.
    await tabs.getByRole('link', { name: 'Security', exact: true }).click();
    const linux = (await page.evaluate("fetch('/manager/api/system/linux-users').then((r) => r.json())")) as { supported: boolean };
    await page.getByText(linux.supported ? 'Linux root user password' : 'This board does not set the Linux passwords from the Manager.').waitFor();
    assert.equal(await page.getByLabel('Linux root user password').count(), linux.supported ? 1 : 0);
  });

  it('at 360 px: the compact menu reaches every section, its heading in view after the choice, nothing wider than the screen', async () => {
    await login();
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto(`${base}/manager/#/settings/general`);
    await heading('general').waitFor();
    // The tabs give way to the menu, which names the current section.
    assert.equal(await page.getByRole('navigation', { name: 'Settings sections', exact: true }).isVisible(), false);
    const summary = page.locator('details.section-menu summary');
    assert.match((await summary.textContent()) ?? '', /Section: General/);
    await page.getByRole('button', { name: 'Save', exact: true }).waitFor();
    await shot('settings-general-360');
    for (const section of SETTINGS_SECTIONS.slice(1)) {
      await summary.click();
      if (section === 'alarms') {
        await shot('settings-menu-360');
        assert.deepEqual(await accessibilityProblems(page), [], 'the open menu at 360 px');
      }
      const menu = page.getByRole('navigation', { name: 'Settings sections (menu)' });
      await menu.getByRole('link', { name: SECTION_SETTINGS[section].title, exact: true }).click();
      await heading(section).waitFor();
      assert.equal(await menu.isVisible(), false, 'the menu closes once a section is chosen');
      assert.match((await summary.textContent()) ?? '', new RegExp(`Section: ${SECTION_SETTINGS[section].title}`));
      await inView(`the heading of ${section} at 360 px`, await heading(section).boundingBox(), 740);
      assert.ok((await overflow()) <= 0, `${section} is wider than a 360 px screen`);
    }
    await page.goto(`${base}/manager/#/settings/smtp`);
    await page.getByRole('button', { name: 'Save', exact: true }).waitFor();
    assert.ok((await overflow()) <= 0, 'SMTP is wider than a 360 px screen');
    await shot('settings-smtp-360');
  });

  it('says a mail that is not set up beside "Send test mail" (a 4xx, not a 500), with the way to the SMTP section', async () => {
    await login();
    await page.goto(`${base}/manager/#/settings/alarms`);
    await page.getByRole('button', { name: 'Save', exact: true }).waitFor();
    const button = page.getByRole('button', { name: 'Send test mail' });
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/manager/api/mail/test')), button.click()]);
    assert.equal(answer.status(), 409);
    const beside = page.locator('.action', { has: button });
    await beside.getByRole('alert').filter({ hasText: 'set the SMTP server' }).waitFor();
    await shot('settings-alarms-testmail-1280');
    await beside.getByRole('link', { name: 'SMTP' }).click();
    await heading('smtp').waitFor();
  });

  it('saves a section with one Save: a bad value is said under its field, focused, and nothing is saved; a good set saves all', async () => {
    await login();
    await page.goto(`${base}/manager/#/settings/smtp`);
    await heading('smtp').waitFor();
    const save = page.getByRole('button', { name: 'Save', exact: true });
    assert.equal(await save.isDisabled(), true, 'nothing to save yet');
    await field('smtpServer').locator('input').fill('mail.example.com');
    await field('smtpPort').locator('input').fill('70000');
    await field('smtpSecurity').locator('select').selectOption('tls');
    await page.getByRole('status').filter({ hasText: 'Unsaved changes: SMTP: server, SMTP: port, SMTP: none, starttls or tls' }).waitFor();
    await save.click();
    await field('smtpPort').getByText('"70000" is not a port number').waitFor();
    await page.getByRole('alert').filter({ hasText: 'Nothing was saved' }).waitFor();
    assert.equal(await field('smtpPort').locator('input').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate('document.activeElement.name'), 'smtpPort');
    assert.equal(await field('smtpServer').locator('.error').count(), 0, 'no error under a good value');
    assert.deepEqual([await setting('smtpServer'), await setting('smtpPort'), await setting('smtpSecurity')], ['', '587', 'starttls']);
    await shot('settings-smtp-refused-1280');
    assert.deepEqual(await accessibilityProblems(page), [], 'a section with a refused value');

    await field('smtpPort').locator('input').fill('2525');
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved 3 settings.' }).waitFor();
    assert.equal(await field('smtpPort').locator('.error').count(), 0);
    assert.deepEqual([await setting('smtpServer'), await setting('smtpPort'), await setting('smtpSecurity')], ['mail.example.com', '2525', 'tls']);
    assert.equal(await save.isDisabled(), true, 'saved: nothing left to save');
  });

  it('shows a set secret as set, keeps it when other fields are saved, and removes it only when asked', async () => {
    await login();
    await page.goto(`${base}/manager/#/settings/alarms`);
    const password = field('eventsPassword').locator('input');
    const save = page.getByRole('button', { name: 'Save', exact: true });
    await password.fill('events-secret-2026');
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved Alarms and events: password.' }).waitFor();
    assert.equal(await setting('eventsPassword'), '***');
    // Shown empty, saying it is set; never the secret itself.
    assert.equal(await password.inputValue(), '');
    assert.match((await password.getAttribute('placeholder')) ?? '', /^set/);
    assert.ok(!(await page.content()).includes('events-secret-2026'));
    await field('eventsUser').locator('input').fill('box');
    await page.getByRole('status').filter({ hasText: /^Unsaved changes: Alarms and events: username$/ }).waitFor();
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved Alarms and events: username.' }).waitFor();
    assert.deepEqual([await setting('eventsUser'), await setting('eventsPassword')], ['box', '***']);
    await field('eventsPassword').getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('status').filter({ hasText: /^Unsaved changes: Alarms and events: password$/ }).waitFor();
    await save.click();
    await page.getByRole('status').filter({ hasText: 'Saved Alarms and events: password.' }).waitFor();
    assert.equal(await setting('eventsPassword'), '');
  });

  it('asks before leaving a section with unsaved changes (a link, Back); Cancel keeps them, leaving drops them', async () => {
    await login();
    await page.goto(`${base}/manager/#/settings/general`);
    await heading('general').waitFor();
    const hour = field('dbOptimizationHour').locator('input');
    const before = await setting('dbOptimizationHour');
    await hour.fill('5');
    const tabs = page.getByRole('navigation', { name: 'Settings sections', exact: true });
    await tabs.getByRole('link', { name: 'SMTP', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Leave without saving?' });
    await dialog.getByText(/Your changes to Database optimization time are not saved/).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(new URL(page.url()).hash, '#/settings/general');
    assert.equal(await hour.inputValue(), '5');
    // The browser's Back asks too, with the section's address back while it does.
    // Through the page, not page.goBack(): its wait for the navigation does not end reliably when the page puts its address back.
    await page.evaluate('history.back()');
    await dialog.getByText(/Your changes to Database optimization time are not saved/).waitFor();
    assert.equal(new URL(page.url()).hash, '#/settings/general');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await heading('general').waitFor();
    assert.equal(await hour.inputValue(), '5');
    // The header's links ask too.
    await page.locator('header').getByRole('link', { name: 'Home' }).click();
    await dialog.getByRole('button', { name: 'Leave without saving' }).click();
    await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    assert.equal(await setting('dbOptimizationHour'), before);
  });
});
