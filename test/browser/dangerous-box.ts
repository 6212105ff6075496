// The box the dangerous-action browser tests share (dangerous*.test.ts): a
// supervisor with the echo service and two instances (echo1, echo1copy), the
// Manager password set, Chromium, and the helpers that check through the API
// and the database rather than the page. useDangerBox() registers the hooks
// in the test file that calls it; each test logs in with its own session.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { asSuperuser, buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { session, type Session } from './session';

const CHROMIUM = process.env.AP_CHROMIUM ?? '/usr/bin/chromium';
export const missing = existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
export const PASSWORD = 'danger-pass-2026';

export let dir: string;
export let root: string;
export let run: Run;
export let base: string;
export let browser: Browser;
/** The page of the running test's own session. */
export let page: Page;
let current: Session | null = null;

/** The running test's own logged-in session. */
export async function login(): Promise<void> {
  current = await session(browser, base, PASSWORD);
  page = current.page;
}

export const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};

/** A GET of the Manager's API with the page's session: what the box says, not what the page shows. */
export const get = async (path: string): Promise<any> => page.evaluate(`fetch('/manager/api${path}').then((r) => r.json())`);

/** Runs `fn` as the PostgreSQL superuser on `database`. */
export const superuser = <T>(database: string, fn: Parameters<typeof asSuperuser<T>>[2]) => asSuperuser(root, database, fn);

export const rolePassword = (user: string) => superuser('postgres', async (sql) => (await sql<{ p: string }[]>`SELECT rolpassword AS p FROM pg_authid WHERE rolname = ${user}`)[0]!.p);

/** The dialog `button` opens: named, with its consequence; `leave` closes it without acting. */
export async function openDialog(button: Locator, title: string | RegExp, consequence: RegExp): Promise<Locator> {
  await button.click();
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.waitFor();
  assert.match((await dialog.textContent()) ?? '', consequence);
  return dialog;
}

/** Opens the dialog twice: closed once with Escape, once with Cancel; then `check` that nothing changed. */
export async function refuseTwice(button: Locator, title: string | RegExp, consequence: RegExp, check: () => Promise<void>): Promise<void> {
  assert.match((await button.getAttribute('class')) ?? '', /\bdanger\b/, 'styled as dangerous');
  await openDialog(button, title, consequence);
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  const dialog = await openDialog(button, title, consequence);
  // Cancel has the focus: a stray Enter does not act.
  assert.equal(await page.evaluate('document.activeElement.textContent'), 'Cancel');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  await check();
}

/** Registers the box's hooks in the calling test file. */
export function useDangerBox(): void {
  before(setUp);
  after(tearDown);
  afterEach(async () => {
    await current?.close();
    current = null;
  });
}

async function setUp(): Promise<void> {
  if (missing) return;
  dir = await workspace('ap-danger-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
  ctl('password', PASSWORD);
  ctl('instance', 'create', 'echo1@example.com', '--service', 'echo', '--password', 'echo1-pw');
  ctl('instance', 'create', 'echo1copy@example.com', '--service', 'echo', '--password', 'copy-pw');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

async function tearDown(): Promise<void> {
  if (missing) return;
  await browser?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
}

export const openInstance = async (id: string) => {
  await page.goto(`${base}/manager/#/instance/${encodeURIComponent(id)}`);
  await page.getByRole('heading', { name: id, exact: true }).waitFor();
};

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe-core's serious and critical findings on the page as it is (as in manager-box.ts). */
export async function accessibilityProblems(p: Page): Promise<string[]> {
  await p.evaluate(await readFile(AXE, 'utf8'));
  const { passed, violations } = (await p.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => ({ passed: r.passes.length, violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })) }))",
  )) as { passed: number; violations: { id: string; impact: string; help: string; targets: string[] }[] };
  assert.ok(passed >= 5, `axe checked only ${passed} rules: did it run?`);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`);
}
