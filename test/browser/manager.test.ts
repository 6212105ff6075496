// The Manager in a real browser (Debian's headless Chromium driven by
// playwright-core): the forced password change, an instance created and
// running, its backup downloaded and restored under another name with the
// progress bar at 100 %, a bad certificate refused with its reason, moving
// charts, logout. Screenshots go to test-output/ (not committed) for a person.
// Each test has its own browser session and the data it needs (issue 16,
// item 5): any one of them runs alone (--test-name-pattern).
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { generateKeyPair } from '../../src/image/sign';
import { storeArch } from '../../src/store';
import { startImageStore, type ImageStore } from '../../tools/image/lib';
import { publishApp } from '../../tools/store/lib';
import { buildFixture, ensureStopped, readyPorts, REPO, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { chromiumPath, missing as needs } from '../harness/optional';
import { session, type Session } from './session';

const CHROMIUM = chromiumPath();
const missing = needs('chromium');
const OUT = join(REPO, 'test-output');
const PASSWORD = 'browser-pass-2026';

let dir: string;
let root: string;
let run: Run;
let base: string;
let browser: Browser;
let store: ImageStore;
/** The page of the running test's own session. */
let page: Page;
let current: Session | null = null;
/** Whether the Manager password is ours yet (the first test sets it through the forced change). */
let passwordSet = false;

/** The running test's own logged-in session; the default password is replaced first when no test did it yet. */
async function login(options: { acceptDownloads?: boolean } = {}): Promise<Page> {
  ensurePassword();
  current = await session(browser, base, PASSWORD, options);
  page = current.page;
  return page;
}

function ensurePassword(): void {
  if (passwordSet) return;
  assert.equal(runApSync(['ctl', 'password', PASSWORD, '--root', root]).status, 0);
  passwordSet = true;
}

before(async () => {
  if (missing) return;
  await mkdir(OUT, { recursive: true });
  dir = await workspace('ap-browser-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--monitor-interval', '1']);
  base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
  // An App Store with one signed app, and its key trusted.
  const pair = await generateKeyPair();
  const hello = join(dir, 'hello');
  await mkdir(hello);
  await writeFile(join(hello, 'app.json'), JSON.stringify({ name: 'hello', version: '2.1.0', entry: ['node', 'main.js'] }));
  await writeFile(join(hello, 'main.js'), 'setInterval(() => {}, 1000);\n');
  await publishApp(join(dir, 'store'), hello, { build: '210007', arch: storeArch('any'), key: pair.secretKey, title: 'Hello', manufacturer: 'Tests' });
  store = await startImageStore(join(dir, 'store'));
  await mkdir(join(root, 'etc/ap/keys'), { recursive: true });
  await writeFile(join(root, 'etc/ap/keys/release.pub'), pair.publicKey);
  assert.equal(runApSync(['ctl', 'setting', 'set', 'appStoreUrl', store.url, '--root', root]).status, 0);
  // An instance for the tests that show one (the first creates its own through the page).
  assert.equal(runApSync(['ctl', 'instance', 'create', 'base1@example.com', '--service', 'echo', '--root', root]).status, 0);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterEach(async () => {
  await current?.close();
  current = null;
});

after(async () => {
  if (missing) return;
  await browser?.close();
  if (run) await ensureStopped(run);
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let axeSource: string | undefined;

/** axe-core's serious and critical findings on the page as it is (WCAG 2.1 A and AA rules). */
async function accessibilityProblems(p: Page): Promise<string[]> {
  // Through the debugger, not a script tag: the Manager's CSP (script-src 'self') stays on while it checks.
  await p.evaluate(axeSource ??= await readFile(AXE, 'utf8'));
  // Evaluated in the page (a string: this file is not type-checked against the DOM).
  const { passed, violations } = (await p.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => ({ passed: r.passes.length, violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })) }))",
  )) as { passed: number; violations: { id: string; impact: string; help: string; targets: string[] }[] };
  console.log(`# axe on ${p.url()}: ${passed} rules passed, ${violations.length} violated${violations.length ? `: ${violations.map((v) => `${v.id} (${v.impact})`).join(', ')}` : ''}`);
  assert.ok(passed >= 5, `axe checked only ${passed} rules: did it run?`);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`);
}

const shot = (name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

describe('the Manager in a browser', { skip: missing ?? false }, () => {
  it('forces the change of the default password at the first login', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    current = { context, page: (page = await context.newPage()), close: () => context.close() };
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
    passwordSet = true;
    await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    await shot('02-home');
  });

  it('creates an instance of the example service and shows it running', async () => {
    await login();
    await page.fill('input[name=name]', 'web1');
    await page.fill('input[name=domain]', 'example.com');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: 'web1@example.com' }).waitFor();
    await page.locator('dd.state.running').waitFor({ timeout: 30_000 });
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
    await page.getByText(/backup downloaded: [\d.]+ MB/).waitFor();
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
    await page.fill('textarea[name=pem]', '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    await page.click('text=Upload certificate');
    const alert = page.getByRole('alert').filter({ hasText: /certificate|key/i });
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /private key|certificate/i);
    await page.click('text=Send test mail');
    await page.getByRole('alert').filter({ hasText: 'set the SMTP server' }).waitFor();
    // A setting refused with the reason, then saved.
    const threshold = page.locator('form.setting', { has: page.locator('input[name=diskThreshold]') });
    await threshold.locator('input').fill('120');
    await threshold.locator('button').click();
    await threshold.getByRole('alert').filter({ hasText: 'not a percentage' }).waitFor();
    await threshold.locator('input').fill('90');
    await threshold.locator('button').click();
    await threshold.locator('.ok').waitFor();
    // A setting with a few valid values is a list of them.
    const mode = page.locator('form.setting', { has: page.locator('select[name=smtpSecurity]') });
    assert.deepEqual(await mode.locator('option').allTextContents(), ['none', 'starttls', 'tls']);
    await mode.locator('select').selectOption('tls');
    await mode.locator('button').click();
    await mode.locator('.ok').waitFor();
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
    await page.getByText('Partition p1 used').waitFor(); // every partition the box reports
    await page.getByText('CPU of echo').waitFor(); // and every service
    await shot('06-system');
    await page.setViewportSize({ width: 360, height: 740 });
    await shot('07-system-360px');
    // Evaluated in the page (a string: this file is not type-checked against the DOM).
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    assert.ok(overflow <= 1, `the page is ${overflow} px wider than a 360 px screen`);
    await page.setViewportSize({ width: 1200, height: 800 });
  });

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
    await page.locator('dd.state.running', { hasNotText: `pid ${before})` }).waitFor({ timeout: 30_000 });
    assert.notEqual(await pid(), before);
    await page.getByRole('button', { name: 'Reload log' }).click();
    await page.getByLabel('Log of echo').waitFor();
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

  it('passes an automated accessibility check (axe-core, WCAG 2.1 AA) on every page', async () => {
    await login();
    const problems: string[] = [];
    for (const [route, heading] of [
      ['#/', 'App Platform'],
      ['#/instance/base1%40example.com', 'base1@example.com'],
      ['#/service/echo', 'echo'],
      ['#/settings', 'Settings'],
      ['#/system', 'System'],
      ['#/diagnostics', 'Diagnostics'],
      ['#/store', 'App Store'],
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
      // A new instance, from the form, by keyboard (once the page knows the services).
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
      await keys.locator('form.setting', { has: keys.locator('input[name=dbOptimizationHour]') }).locator('.ok').waitFor();
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

  it('logs out', async () => {
    await login();
    await page.click('text=Log out');
    await page.locator('input[name=password]').waitFor();
    const status = (await page.evaluate("fetch('/manager/api/instances').then((r) => r.status)")) as number;
    assert.equal(status, 401);
  });
});
