// Honest live state in the Manager (issue 21, item 3) and the layouts of the
// shell, the service and the instance page at 360 and 1280 px, on the box of
// manager-box.ts. The browser reaches the box through a TCP relay of this
// file, so that the network can be cut and mended under an open page, and the
// page keeps its origin when the supervisor is started again (on new ports):
// the banner comes within seconds, states read "unknown", the browser's
// "Failed to fetch" is never shown, and when the box answers again the banner
// goes and the page follows it without a reload; a box that hangs, closing no
// socket, is found out too. Finished jobs show as notes;
// the system's dark mode gives light text on a dark page. The supervisor is
// stopped in the last test only.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { fetchRaw } from '../harness/http';
import { UNWRITABLE_FILE } from '../harness/workspace';
import { ensureStopped, readyPorts, runApSync, type Run } from '../harness/supervisor';
import { accessibilityProblems, apps, base, browser, dir, ensurePassword, login, missing, page, PASSWORD, root, run, serveBox, shot, useManagerBox, usePage } from './manager-box';
import type { Locator } from 'playwright-core';
import { session } from './session';

useManagerBox();

/** A TCP relay to the Manager: cut() drops every connection and refuses new ones (the network is gone), mend() lets them through again. */
class Relay {
  private readonly sockets = new Set<Socket>();
  private open = true;
  private readonly server: Server;
  port = 0;

  constructor(public target: number) {
    this.server = createServer((client) => {
      if (!this.open) return void client.destroy();
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {}).on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.open = false;
    for (const s of this.sockets) s.destroy();
  }

  mend(): void {
    this.open = true;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let relay: Relay;
let relayed: string;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return result.stdout;
};

/** A logged-in page of its own that talks to the box through the relay. */
async function relayedLogin() {
  ensurePassword();
  const s = await session(browser, relayed, PASSWORD);
  usePage(s.context, s.page);
  return s.page;
}

const banner = () => page.getByRole('alert').filter({ hasText: 'Connection lost' });
const pageText = async () => (await page.locator('body').innerText()) as string;
/** Reloads the page and waits for the box's hello on the event socket: pushed events reach the page from then on. */
async function hearingPushes(): Promise<void> {
  const socket = page.waitForEvent('websocket');
  await page.reload();
  await (await socket).waitForEvent('framereceived');
}
/** How many lines `locator`'s box is high, in the body's line height. */
async function lines(locator: Locator): Promise<number> {
  const line = (await page.evaluate('parseFloat(getComputedStyle(document.body).lineHeight)')) as number;
  return Math.round((await locator.boundingBox())!.height / line);
}
const overflow = async () => (await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')) as number;

/** Every state in the tree reads `text` (there are some). */
async function treeReads(text: string): Promise<void> {
  // The service and its instance (loaded apart: wait for the instance's).
  await page.locator('.tree li li .state').first().waitFor({ state: 'attached' });
  await page.locator('.tree .state', { hasNotText: text }).first().waitFor({ state: 'detached', timeout: 30_000 });
}

describe('the Manager live: connection, notes of jobs, layout, dark mode', { skip: missing ?? false }, () => {
  // In the describe: the box's own hooks (the file's) have run by then.
  before(async () => {
    relay = new Relay(Number(new URL(base).port));
    relayed = await relay.listen();
  });
  after(() => relay?.close());

  it('says at once when the box cannot be reached, shows states as unknown, and follows the box again when it answers, without a reload', async () => {
    await relayedLogin();
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.locator('.tree').getByRole('link', { name: /^echo/ }).click();
    await page.getByRole('heading', { name: 'echo', exact: true }).waitFor();
    await hearingPushes();
    await treeReads('running');
    await page.evaluate('window.keptSinceLoad = true');

    relay.cut();
    try {
      const cut = Date.now();
      await banner().waitFor({ timeout: 5000 });
      console.log(`# banner after ${Date.now() - cut} ms`);
      await treeReads('unknown');
      await page.locator('main .state').first().waitFor();
      assert.equal(await page.locator('main .state', { hasNotText: 'unknown' }).count(), 0, 'the page shows no state as if known');
      // An action meanwhile says what happened, in words, beside its button.
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      // (Right after the buttons: a part of the page whose first load the cut stopped says so too.)
      await page.locator('main .buttons + .error', { hasText: 'The App Platform cannot be reached (it may be restarting)' }).waitFor();
      assert.doesNotMatch(await pageText(), /Failed to fetch|TypeError/);
      await shot('live-banner-1280');
      await page.setViewportSize({ width: 360, height: 740 });
      // Scrolled down, the banner stays in view.
      await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
      const box = await banner().boundingBox();
      assert.ok(box && box.y >= 0 && box.y + box.height <= 740, `the banner is out of view at 360 px: ${JSON.stringify(box)}`);
      assert.ok((await overflow()) <= 1, 'the page is wider than 360 px');
      await page.evaluate('window.scrollTo(0, 0)');
      await shot('live-banner-360');
      await page.setViewportSize({ width: 1280, height: 800 });
      // Changed meanwhile, where this page could not see it: shown once the box answers.
      ctl('instance', 'stop', 'base1@example.com');
      // A page opened meanwhile says why it is empty, and loads once the box answers.
      await page.evaluate("location.hash = '#/diagnostics'");
      await page.locator('main .error', { hasText: 'The App Platform cannot be reached' }).waitFor();
    } finally {
      relay.mend();
    }
    await banner().waitFor({ state: 'detached', timeout: 20_000 });
    await page.getByRole('heading', { name: 'Diagnostics', exact: true }).waitFor();
    const instance = page.locator('.tree li li', { hasText: 'base1@example.com' }).locator('.state');
    await instance.filter({ hasText: /^stopped$/ }).waitFor({ timeout: 10_000 });
    await page.locator('.tree .state', { hasText: /^running$/ }).first().waitFor();
    await page.evaluate("location.hash = '#/service/echo'");
    await page.locator('main .state', { hasText: /^running$/ }).waitFor();
    assert.equal(await page.evaluate('window.keptSinceLoad'), true, 'the page was loaded again');
    // Pushed changes flow again: the start arrives on the reopened socket.
    ctl('instance', 'start', 'base1@example.com');
    await instance.filter({ hasText: /^running$/ }).waitFor({ timeout: 10_000 });
  });

  it('shows a note when a job ends: a success that goes by itself, a failure that stays until dismissed', async () => {
    await login();
    await page.setViewportSize({ width: 360, height: 740 });
    await hearingPushes();
    ctl('backup', 'instance', 'base1@example.com', '--file', join(dir, 'base1.backup'));
    const done = page.getByRole('status').filter({ hasText: /Backup of base1@example\.com succeeded: backed up base1@example\.com to/ });
    await done.waitFor();
    // Its size in human units, as everywhere on the pages ("1.4 KB", not "1477 bytes").
    assert.match(await done.innerText(), /\([\d.]+ KB\)/);
    // Stacked at the bottom, clear of the header.
    const header = (await page.locator('header').boundingBox())!;
    const note = (await done.boundingBox())!;
    assert.ok(note.y >= header.y + header.height && note.y + note.height <= 740, `the note ${JSON.stringify(note)} covers the header ${JSON.stringify(header)} or is off screen`);
    assert.ok((await overflow()) <= 1, 'the page is wider than 360 px');
    // A backup the box cannot write (to a folder that does not exist) fails as a job.
    runApSync(['ctl', 'backup', 'instance', 'base1@example.com', '--file', UNWRITABLE_FILE, '--root', root]);
    const failed = page.getByRole('alert').filter({ hasText: /Backup of base1@example\.com failed/ });
    await failed.waitFor();
    await shot('live-toasts-360');
    await done.waitFor({ state: 'detached', timeout: 15_000 });
    assert.equal(await failed.count(), 1, 'the failure stays');
    await page.getByRole('button', { name: /^Dismiss: Backup of base1@example\.com failed/ }).click();
    await failed.waitFor({ state: 'detached' });
  });

  it('follows the system into dark mode: light text on a dark page, still readable', async () => {
    await login();
    await page.setViewportSize({ width: 1280, height: 800 });
    const colours = async () =>
      (await page.evaluate(`(() => {
        const lum = (c) => { const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map((v) => Number(v) / 255); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const body = getComputedStyle(document.body);
        const card = document.querySelector('.card, .tree');
        return { bg: lum(body.backgroundColor), fg: lum(body.color), card: lum(getComputedStyle(card).backgroundColor) };
      })()`)) as { bg: number; fg: number; card: number };
    const day = await colours();
    assert.ok(day.bg > 0.8 && day.fg < 0.3, `light mode: ${JSON.stringify(day)}`);
    await page.emulateMedia({ colorScheme: 'dark' });
    const night = await colours();
    assert.ok(night.bg < 0.15 && night.card < 0.25 && night.fg > 0.7, `dark mode: ${JSON.stringify(night)}`);
    await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'contrast and the rest in dark mode');
    await shot('dark-home-1280');
    await page.goto(`${base}/manager/#/service/echo`);
    await page.getByRole('heading', { name: 'echo', exact: true }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'the service page in dark mode');
    await shot('dark-service-1280');
  });

  it('puts the page heading first at 360 px, the tree in a disclosure, with names never broken mid-word', async () => {
    // A name longer than the sidebar is wide.
    ctl('instance', 'create', 'a-rather-long-instance-name@customer.example.com', '--service', 'echo');
    await login();
    await page.setViewportSize({ width: 360, height: 740 });
    for (const [route, heading] of [
      ['#/', 'App Platform'],
      ['#/service/echo', 'echo'],
    ] as const) {
      await page.goto(`${base}/manager/${route}`);
      const h1 = page.getByRole('heading', { level: 1, name: heading, exact: true });
      await h1.waitFor();
      const y = (await h1.boundingBox())!.y;
      assert.ok(y < 740, `${route}: the heading is at ${y} px, below the first screen`);
      assert.ok((await overflow()) <= 1, `${route}: wider than 360 px`);
    }
    const toggle = page.getByRole('button', { name: /^Services and instances/ });
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    assert.equal(await page.locator('.tree').getByRole('link', { name: /^echo/ }).isVisible(), false, 'the tree is closed');
    await toggle.click();
    await page.locator('.tree').getByRole('link', { name: /^base1@example\.com/ }).click();
    await page.getByRole('heading', { name: 'base1@example.com', exact: true }).waitFor();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false', 'a followed link closes the tree');
    await shot('instance-360');
    // At 1280 px a sidebar, always open; the long name ends in "…" on one line, whole in its title.
    await page.setViewportSize({ width: 1280, height: 800 });
    assert.equal(await toggle.isVisible(), false);
    const name = 'a-rather-long-instance-name@customer.example.com';
    const long = page.locator(`.tree a[title="${name}"] .name`);
    await long.waitFor();
    assert.equal(await lines(long), 1);
    assert.equal(await long.textContent(), name, 'the whole name is there (and read out)');
    assert.ok(await page.evaluate(`(() => { const e = document.querySelector('.tree a[title="${name}"] .name'); return e.scrollWidth > e.clientWidth && getComputedStyle(e).textOverflow === 'ellipsis'; })()`), 'it ends in an ellipsis');
    ctl('instance', 'delete', 'a-rather-long-instance-name@customer.example.com', '--drop-database');
  });

  it('shows a service: its instances with links to the app, the current run apart from past crashes', async () => {
    await login();
    await page.setViewportSize({ width: 1280, height: 800 });
    const before = JSON.parse(ctl('service', 'show', 'echo')) as { pid: number };
    // The echo service dies when asked (exit code 7); the supervisor starts it again.
    await fetchRaw(`${apps}/example.com/base1/crash`).catch(() => {});
    await page.goto(`${base}/manager/#/service/echo`);
    await page.getByRole('heading', { name: 'echo', exact: true }).waitFor();
    const crashes = page.locator('ol.crashes > li');
    await crashes.filter({ hasText: /exit code 7 after [\d.]+ (s|min)/ }).waitFor({ timeout: 30_000 });
    assert.match(await crashes.first().innerText(), /^\d{4}-\d\d-\d\d \d\d:\d\d \((just now|\d+ min ago)\): exit code 7 after .*, version \d/);
    // The current run is the new process: running, its own pid, up for a while; not the crash.
    const current = page.locator('h2:text-is("Current run") + dl');
    await current.locator('.state', { hasText: /^running$/ }).waitFor({ timeout: 30_000 });
    const now = JSON.parse(ctl('service', 'show', 'echo')) as { pid: number };
    assert.notEqual(now.pid, before.pid);
    await current.getByText(`pid ${now.pid}`).waitFor();
    await current.getByText(/^\d+(\.\d)? s \(since \d{4}-\d\d-\d\d \d\d:\d\d\)$|^\d+ min( \d+ s)? \(since /).waitFor();
    assert.doesNotMatch(await current.innerText(), /exit code|crash/i);
    // Its instances, each with its state and its path as a link a browser opens.
    const item = page.locator('ul.instances li', { hasText: 'base1@example.com' });
    await item.locator('.state', { hasText: /^running$/ }).waitFor();
    const link = item.getByRole('link', { name: '/example.com/base1' });
    const url = await link.getAttribute('href');
    assert.equal(url, `${apps}/example.com/base1`);
    assert.match((await fetchRaw(`${url}/hello`)).body.toString(), /^hello from base1@example\.com/);
    // The crash's last lines open from its entry.
    await crashes.first().locator('summary').click();
    await crashes.first().getByLabel(/^The last lines before the crash of /).getByText('asked to crash').waitFor();
    await shot('service-1280');
    await page.setViewportSize({ width: 360, height: 740 });
    // The fields stack: "running pid …" stays on one line, not a letter per line.
    assert.equal(await lines(current.locator('dd').first()), 1, 'the state and pid wrap');
    assert.ok((await overflow()) <= 1, 'wider than 360 px');
    await shot('service-360');
    await page.getByRole('link', { name: 'base1@example.com', exact: true }).click();
    await page.getByRole('heading', { name: 'base1@example.com', exact: true }).waitFor();
    assert.equal(await page.getByRole('link', { name: '/example.com/base1' }).getAttribute('href'), url);
    await page.getByRole('link', { name: 'echo', exact: true }).first().waitFor();
  });

  it('says so when the box hangs and no socket closes (a frozen supervisor, a network that drops everything): the banner, gone when it answers again', async () => {
    await relayedLogin();
    await page.setViewportSize({ width: 1280, height: 800 });
    await treeReads('running');
    const pid = run.child.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      // Looked at every 20 s, unanswered after 10 s.
      await banner().waitFor({ timeout: 45_000 });
      await treeReads('unknown');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await banner().waitFor({ state: 'detached', timeout: 30_000 });
    await treeReads('running');
  });

  it('when the supervisor stops: the banner; started again, the banner goes and the ended session leads to the login', async () => {
    await relayedLogin();
    await page.setViewportSize({ width: 1280, height: 800 });
    await treeReads('running');
    let again: Run | null = null;
    try {
      await ensureStopped(run);
      await banner().waitFor({ timeout: 5000 });
      await treeReads('unknown');
      assert.doesNotMatch(await pageText(), /Failed to fetch|TypeError/);
      await page.evaluate('window.keptSinceLoad = true');
      again = serveBox(root);
      relay.target = (await readyPorts(again)).manager;
      // Sessions live in the supervisor's memory: the new one knows none, so the login shows, by itself.
      await page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 30_000 });
      await page.getByRole('status').filter({ hasText: /^The session has ended .*the App Platform restarted\): log in again\.$/ }).waitFor();
      assert.equal(await banner().count(), 0);
      assert.equal(await page.evaluate('window.keptSinceLoad'), true, 'the page was loaded again');
      await page.fill('input[name=password]', PASSWORD);
      await page.click('button[type=submit]');
      await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
      await treeReads('running');
    } finally {
      if (again) await ensureStopped(again);
    }
  });
});
