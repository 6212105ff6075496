// A logged-in Manager session of its own for one browser test: a fresh
// context (its own cookie jar), so no test leans on what another left open.
import type { Browser, BrowserContext, Page } from 'playwright-core';

export interface Session {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Closes the context (and its pages). */
  close(): Promise<void>;
}

/** Logs in at `base`/manager/ with `password` in a new context; the home page is shown when it resolves. */
export async function session(browser: Browser, base: string, password: string, options: { acceptDownloads?: boolean } = {}): Promise<Session> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 800 }, acceptDownloads: options.acceptDownloads ?? false });
  try {
    const page = await context.newPage();
    await page.goto(`${base}/manager/`);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
    await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    return { context, page, close: () => context.close() };
  } catch (error) {
    await context.close();
    throw error;
  }
}
