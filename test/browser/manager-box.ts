// The Manager box the browser tests of manager*.test.ts share: a supervisor
// with the echo service, an instance (base1@example.com), an App Store with
// one signed app, and Chromium; each test logs in with a session of its own.
// useManagerBox() registers the hooks in the test file that calls it; the
// bindings below are live (ES modules), set by those hooks.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { generateKeyPair } from '../../src/image/sign';
import { storeArch } from '../../src/store';
import { startImageStore, type ImageStore } from '../../tools/image/lib';
import { publishApp } from '../../tools/store/lib';
import { buildFixture, ensureStopped, readyPorts, REPO, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { chromiumPath, missing as needs } from '../harness/optional';
import { session, type Session } from './session';

const CHROMIUM = chromiumPath();
export const missing = needs('chromium');
const OUT = join(REPO, 'test-output');
export const PASSWORD = 'browser-pass-2026';

export let dir: string;
export let root: string;
export let run: Run;
export let base: string;
/** Where the apps (instances) answer: the other origin of the box. */
export let apps: string;
export let browser: Browser;
let store: ImageStore;
/** The page of the running test's own session. */
export let page: Page;
let current: Session | null = null;
/** Whether the Manager password is ours yet (the first test sets it through the forced change). */
let passwordSet = false;

/** Says the password was changed from the default (by the test of the forced change). */
export function markPasswordSet(): void {
  passwordSet = true;
}

/** Makes `p` the running test's page (a test that opens its own context), closed after the test. */
export function usePage(context: BrowserContext, p: Page): void {
  current = { context, page: p, close: () => context.close() };
  page = p;
}

/** The running test's own logged-in session; the default password is replaced first when no test did it yet. */
export async function login(options: { acceptDownloads?: boolean } = {}): Promise<Page> {
  ensurePassword();
  current = await session(browser, base, PASSWORD, options);
  page = current.page;
  return page;
}

export function ensurePassword(): void {
  if (passwordSet) return;
  assert.equal(runApSync(['ctl', 'password', PASSWORD, '--root', root]).status, 0);
  passwordSet = true;
}

/** Registers the box's hooks in the calling test file. */
export function useManagerBox(): void {
  before(setUp);
  after(tearDown);
  afterEach(async () => {
    await current?.close();
    current = null;
  });
}

/** The box's supervisor on `root` (any free ports: readyPorts says which). */
export function serveBox(root: string): Run {
  return runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--monitor-interval', '1']);
}

async function setUp(): Promise<void> {
  if (missing) return;
  await mkdir(OUT, { recursive: true });
  dir = await workspace('ap-browser-');
  root = await rootWithConfig(dir, {});
  run = serveBox(root);
  const ports = await readyPorts(run);
  base = `http://127.0.0.1:${ports.manager}`;
  apps = `http://127.0.0.1:${ports.app}`;
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
}

async function tearDown(): Promise<void> {
  if (missing) return;
  await browser?.close();
  if (run) await ensureStopped(run);
  await store?.close();
  await rm(dir, { recursive: true, force: true });
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let axeSource: string | undefined;

/** axe-core's serious and critical findings on the page as it is (WCAG 2.1 A and AA rules). */
export async function accessibilityProblems(p: Page): Promise<string[]> {
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

export const shot = (name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

