// Moving between pages in the Manager (issue 16, item 5): what a page shows
// is always what its address names. The answer for instance A, slow to come,
// is never shown under instance B's address, and while B's answer is on its
// way nothing of A is left on B's page. Each test has its own browser
// session; the box's answers are held back with Playwright's routing.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page, type Request, type Route } from 'playwright-core';
import { chromiumPath, missing as needs } from '../harness/optional';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

const CHROMIUM = chromiumPath();
const missing = needs('chromium');
const PASSWORD = 'navigate-pass-2026';
const A = 'alpha@example.com';
const B = 'beta@example.com';

let dir: string;
let root: string;
let run: Run;
let base: string;
let browser: Browser;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
};

before(async () => {
  if (missing) return;
  dir = await workspace('ap-navigate-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  base = `http://127.0.0.1:${(await readyPorts(run)).manager}`;
  assert.equal(runApSync(['ctl', 'service', 'install', await buildFixture('echo', join(dir, 'packages')), '--root', root]).status, 0);
  ctl('password', PASSWORD);
  ctl('instance', 'create', A, '--service', 'echo');
  ctl('instance', 'create', B, '--service', 'echo');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  if (missing) return;
  await browser?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

/** A logged-in session of its own: a fresh browser context, on the home page. */
async function session(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  const page = await context.newPage();
  await page.goto(`${base}/manager/`);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
  return { context, page };
}

const apiPath = (id: string) => `/manager/api/instances/${encodeURIComponent(id)}`;

/**
 * Holds the page's first GET of instance `id` until `release()`; `asked`
 * resolves when the page has asked, `settled` when that request has ended
 * in the page (answered, or aborted by it).
 */
async function holdFirst(page: Page, id: string) {
  let held: Route | null = null;
  let asked!: () => void;
  const askedP = new Promise<void>((resolve) => (asked = resolve));
  let settled!: () => void;
  const settledP = new Promise<void>((resolve) => (settled = resolve));
  let request: Request | null = null;
  const ended = (r: Request) => r === request && settled();
  page.on('requestfinished', ended);
  page.on('requestfailed', ended);
  await page.route(
    (url) => url.pathname === apiPath(id),
    async (route) => {
      if (held || request) return route.continue();
      held = route;
      request = route.request();
      asked();
    },
  );
  return {
    asked: askedP,
    settled: settledP,
    /** Lets the held answer through (a request the page aborted meanwhile has nowhere to go). */
    release: async () => {
      await held?.continue().catch(() => {});
    },
  };
}

/** Waits until the page has rendered what it had to: two animation frames and a task. */
const painted = (page: Page) => page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0))))');

const heading = (page: Page) => page.locator('main h1').textContent();

describe('moving between pages in the Manager', { skip: missing ?? false }, () => {
  it("never shows instance A's late answer under instance B's address", async () => {
    const { context, page } = await session();
    try {
      const a = await holdFirst(page, A);
      await page.goto(`${base}/manager/#/instance/${encodeURIComponent(A)}`);
      await a.asked;
      // A is still on its way; the person moves on to B, which answers at once.
      await page.goto(`${base}/manager/#/instance/${encodeURIComponent(B)}`);
      await page.getByRole('heading', { name: B, exact: true }).waitFor();
      await a.release();
      await a.settled;
      await painted(page);
      assert.equal(await heading(page), B, "B's page, not A's late answer");
      assert.equal(await page.getByRole('heading', { name: A, exact: true }).count(), 0);
      assert.match(page.url(), /#\/instance\/beta%40example\.com$/);
    } finally {
      await context.close();
    }
  });

  it("shows nothing of instance A on B's page while B's answer is on its way", async () => {
    const { context, page } = await session();
    try {
      await page.goto(`${base}/manager/#/instance/${encodeURIComponent(A)}`);
      await page.getByRole('heading', { name: A, exact: true }).waitFor();
      const b = await holdFirst(page, B);
      await page.locator('.tree').getByRole('link', { name: new RegExp(`^${B.replace('.', '\\.')}`) }).click();
      await b.asked;
      await painted(page);
      // A's heading and buttons under B's address would act on B while showing A.
      assert.equal(await page.getByRole('heading', { name: A, exact: true }).count(), 0, "A's page is gone once the address names B");
      assert.equal(await page.getByRole('button', { name: 'New password', exact: true }).count(), 0);
      await b.release();
      await page.getByRole('heading', { name: B, exact: true }).waitFor();
      assert.equal(await heading(page), B);
    } finally {
      await context.close();
    }
  });
});
