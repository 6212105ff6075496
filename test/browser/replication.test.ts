// The Manager's replication page: a box made primary from it, a standby added
// with its password shown and copied, removed after the question, and
// replication turned off after its own question; checked through the API.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { freePort } from '../replication/clients';
import { accessibilityProblems, missing } from './dangerous-box';
import { session, type Session } from './session';

const CHROMIUM = process.env.AP_CHROMIUM ?? '/usr/bin/chromium';
const PASSWORD = 'replication-pass-2026';

let dir: string;
let root: string;
let run: Run;
let base: string;
let browser: Browser;
let own: Session;
let page: Page;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};

describe('the Manager replication page', { skip: missing ?? false }, () => {
  before(async () => {
    dir = await workspace('ap-repl-ui-');
    root = await rootWithConfig(dir, {});
    run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--pg-listen', '127.0.0.1', '--db-port', String(await freePort())]);
    base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
    ctl('password', PASSWORD);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    own = await session(browser, base, PASSWORD);
    page = own.page;
    await own.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  });

  after(async () => {
    await own?.close();
    await browser?.close();
    if (run) await ensureStopped(run);
    await rm(dir, { recursive: true, force: true });
  });

  it('sits next to Settings; makes the box a primary, adds a standby and shows its password to copy', async () => {
    await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'Replication' }).click();
    await page.getByRole('heading', { name: 'Replication', exact: true }).waitFor();
    assert.equal(await page.locator('.mode').textContent(), 'off');
    await page.getByRole('button', { name: 'Make this box a primary' }).click();
    await page.getByRole('heading', { name: /^Standbys \(0 of at most 8\)$/ }).waitFor();
    assert.equal(ctl('replication', 'show').mode, 'primary');

    await page.getByLabel(/New standby/).fill('Standby1.Example.com');
    await page.getByRole('button', { name: 'Add standby' }).click();
    const row = page.locator('tr[data-standby="standby1.example.com"]');
    await row.waitFor();
    const [stored] = ctl('replication', 'show').standbys as { name: string; password: string }[];
    assert.equal(stored!.name, 'standby1.example.com');
    assert.equal(await row.locator('code.password').textContent(), stored!.password);
    assert.match((await row.textContent()) ?? '', /not yet \(new\)/);
    await row.getByRole('button', { name: 'Copy the password of standby1.example.com' }).click();
    await row.getByRole('button', { name: 'Copied the password of standby1.example.com' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), stored!.password);
    assert.deepEqual(await accessibilityProblems(page), []);

    // A name that is not a domain name: the box's reason, nothing added.
    await page.getByLabel(/New standby/).fill('not a name');
    await page.getByRole('button', { name: 'Add standby' }).click();
    await page.getByRole('alert').waitFor();
    assert.equal(ctl('replication', 'show').standbys.length, 1);
  });

  it('removes a standby only when confirmed', async () => {
    const row = page.locator('tr[data-standby="standby1.example.com"]');
    const remove = row.getByRole('button', { name: 'Remove' });
    assert.match((await remove.getAttribute('class')) ?? '', /\bdanger\b/);
    await remove.click();
    const dialog = page.getByRole('dialog', { name: 'Remove standby standby1.example.com?' });
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /disconnected at once/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(ctl('replication', 'show').standbys.length, 1);
    await remove.click();
    await dialog.getByRole('button', { name: 'Remove standby' }).click();
    await row.waitFor({ state: 'detached' });
    assert.deepEqual(ctl('replication', 'show').standbys, []);
  });

  it('turns replication off only when confirmed', async () => {
    const off = page.getByRole('button', { name: 'Turn replication off' });
    await off.click();
    const dialog = page.getByRole('dialog', { name: 'Turn replication off?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(ctl('replication', 'show').mode, 'primary');
    await off.click();
    await dialog.getByRole('button', { name: 'Turn replication off' }).click();
    await page.getByRole('button', { name: 'Make this box a primary' }).waitFor();
    assert.equal(ctl('replication', 'show').mode, 'off');
  });
});
