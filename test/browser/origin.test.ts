// An app's web content must not be able to act as the Manager (issue 14,
// item 3). In headless Chromium an administrator is logged in to the Manager;
// in the same browser an app's page (test/fixtures/attacker/web/evil.js)
// tries to read the CSRF token and the instances, to stop another instance
// (with and without credentials, on its own origin and on the Manager's), to
// open the event socket, and to replace or shadow the session cookie. With
// the Manager on the apps' origin all of it worked; now none of it may.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { chromiumPath, missing as needs } from '../harness/optional';
import { session } from './session';

const CHROMIUM = chromiumPath();
const missing = needs('chromium');
const PASSWORD = 'origin-pass-2026';

let dir: string;
let root: string;
let run: Run;
let apps: string;
let manager: string;
let browser: Browser;
let context: BrowserContext;
let admin: Page;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout);
};

before(async () => {
  if (missing) return;
  dir = await workspace('ap-origin-');
  root = await rootWithConfig(dir, {});
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  const ports = await readyPorts(run);
  apps = `http://127.0.0.1:${ports.app}`;
  manager = `http://127.0.0.1:${ports.manager}`;
  for (const fixture of ['echo', 'attacker']) ctl('service', 'install', await buildFixture(fixture, join(dir, 'packages')));
  ctl('instance', 'create', 'victim@example.com', '--service', 'echo');
  ctl('instance', 'create', 'evil@example.com', '--service', 'attacker');
  await until('both instances running', async () => (ctl('instance', 'list').instances.filter((i: { state: string }) => i.state === 'running').length === 2 ? true : undefined));
  const password = runApSync(['ctl', 'password', '-', '--root', root], {}, `${PASSWORD}\n`);
  assert.equal(password.status, 0, password.stderr);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

// Each test has its own administrator's session (its own context), closed after it.
afterEach(async () => {
  await context?.close();
});

/** The administrator logged in on the Manager's origin, in a context of this test's own. */
async function loggedIn(): Promise<void> {
  ({ context, page: admin } = await session(browser, manager, PASSWORD));
}

after(async () => {
  if (missing) return;
  await browser?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

/** What the logged-in administrator's page gets from the Manager's API (evaluated in the page: this file is not type-checked against the DOM). */
const adminGet = (path: string) => admin.evaluate(`fetch('/manager/api${path}').then(async (r) => ({ status: r.status, body: await r.json() }))`) as Promise<{ status: number; body: any }>;

describe("an app's web content and the Manager", { skip: missing ?? false }, () => {
  it("sends a browser that asks the apps' port for the Manager to the Manager's own origin", async () => {
    context = await browser.newContext();
    admin = await context.newPage();
    await admin.goto(`${apps}/manager/`);
    assert.equal(new URL(admin.url()).origin, manager);
    await admin.fill('input[name=password]', PASSWORD);
    await admin.click('button[type=submit]');
    await admin.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    // The administrator is logged in: there is something to steal.
    const session = await adminGet('/session');
    assert.equal(session.status, 200);
    assert.match(session.body.csrf, /^[\w-]{16,}$/);
  });

  it("lets an app's page read nothing, stop nothing and open no event socket while the administrator is logged in", async () => {
    await loggedIn();
    const evil = await context.newPage();
    const url = `${apps}/example.com/evil/140003/evil.html?manager=${encodeURIComponent(manager)}&victim=victim%40example.com`;
    await evil.goto(url);
    await evil.waitForFunction('document.title === "done"', undefined, { timeout: 60_000 });
    const report = (await evil.evaluate('window.report')) as { csrf: string[]; instances: string[]; stops: { how: string; status: unknown }[]; sockets: { how: string; opened: boolean }[] };
    console.log(`# what the app's page got: ${JSON.stringify(report)}`);
    assert.deepEqual(report.csrf, [], 'the CSRF token was read');
    assert.deepEqual(report.instances, [], 'the instances (and their passwords) were read');
    assert.deepEqual(report.sockets, [
      { how: 'this origin', opened: false },
      { how: "the Manager's origin", opened: false },
    ]);
    assert.equal(report.stops.length, 8);
    for (const stop of report.stops) assert.notEqual(stop.status, 200, `stop ${stop.how} was accepted`);
    // The instance still runs, as the administrator and ap ctl see it.
    const victim = await adminGet('/instances/victim@example.com');
    assert.deepEqual([victim.status, victim.body.wanted, victim.body.state], [200, 'running', 'running']);
    assert.equal(ctl('instance', 'show', 'victim@example.com').wanted, 'running');
    await evil.close();
  });

  it("keeps the administrator's session when an app sets or shadows its cookie", async () => {
    await loggedIn();
    const evil = await context.newPage();
    // An app's answer with Set-Cookie: ap_session=…; Path=/manager (the supervisor drops it).
    const planted = await evil.goto(`${apps}/example.com/evil/plant-cookie`);
    assert.equal(planted?.status(), 200);
    assert.equal(await planted?.headerValue('set-cookie'), null);
    // The page's own script: a cookie of the same name on a longer path, which the browser sends first.
    await evil.goto(`${apps}/example.com/evil/140003/evil.html`);
    await evil.evaluate("document.cookie = 'ap_session=shadowed-by-an-app; Path=/manager/api'");
    const names = (await context.cookies()).map((c) => `${c.name}=${c.value.slice(0, 20)}`);
    assert.ok(!names.includes('ap_session=planted-by-an-app'), names.join(', '));
    assert.ok(names.includes('ap_session=shadowed-by-an-app'), 'the shadowing cookie was set (else this test proves nothing)');
    const session = await adminGet('/session');
    assert.equal(session.status, 200, JSON.stringify(session.body));
    await evil.close();
  });
});
