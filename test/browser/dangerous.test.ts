// The Manager's dangerous buttons in a real browser (issue 15): each is red,
// asks in a dialog that states the consequence, and acts only when confirmed;
// Cancel and Escape change nothing (checked through the API and the
// database, not the page). The database clean-up warns first, shows its job
// running, then done. A restore over an instance asks, and a backup of
// another instance is refused on that instance's page. Each test has its
// own browser session and leans on no other test's changes.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { connect as pgConnect } from '../../src/db';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { session, type Session } from './session';

const CHROMIUM = process.env.AP_CHROMIUM ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
const PASSWORD = 'danger-pass-2026';

let dir: string;
let root: string;
let run: Run;
let base: string;
let browser: Browser;
/** The page of the running test's own session. */
let page: Page;
let current: Session | null = null;

/** The running test's own logged-in session. */
async function login(): Promise<void> {
  current = await session(browser, base, PASSWORD);
  page = current.page;
}

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};

/** A GET of the Manager's API with the page's session: what the box says, not what the page shows. */
const get = async (path: string): Promise<any> => page.evaluate(`fetch('/manager/api${path}').then((r) => r.json())`);

/** Runs `fn` as the PostgreSQL superuser on `database`. */
async function superuser<T>(database: string, fn: (sql: ReturnType<typeof pgConnect>) => Promise<T>): Promise<T> {
  const status = ctl('status');
  const sql = pgConnect({ socketDir: status.db.socketDir, port: status.db.port, database, max: 1 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const rolePassword = (user: string) => superuser('postgres', async (sql) => (await sql<{ p: string }[]>`SELECT rolpassword AS p FROM pg_authid WHERE rolname = ${user}`)[0]!.p);

/** The dialog `button` opens: named, with its consequence; `leave` closes it without acting. */
async function openDialog(button: Locator, title: string | RegExp, consequence: RegExp): Promise<Locator> {
  await button.click();
  const dialog = page.getByRole('dialog', { name: title });
  await dialog.waitFor();
  assert.match((await dialog.textContent()) ?? '', consequence);
  return dialog;
}

/** Opens the dialog twice: closed once with Escape, once with Cancel; then `check` that nothing changed. */
async function refuseTwice(button: Locator, title: string | RegExp, consequence: RegExp, check: () => Promise<void>): Promise<void> {
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

before(async () => {
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
});

afterEach(async () => {
  await current?.close();
  current = null;
});

after(async () => {
  if (missing) return;
  await browser?.close();
  if (run) await ensureStopped(run);
  await rm(dir, { recursive: true, force: true });
});

const openInstance = async (id: string) => {
  await page.goto(`${base}/manager/#/instance/${encodeURIComponent(id)}`);
  await page.getByRole('heading', { name: id, exact: true }).waitFor();
};

describe('dangerous actions in the Manager', { skip: missing ?? false }, () => {
  beforeEach(login);

  it('New password and New database password ask first; cancelled they change nothing, confirmed they do', async () => {
    await openInstance('echo1@example.com');
    const user = (await get('/instances/echo1%40example.com')).database.user as string;
    const dbBefore = await rolePassword(user);

    const button = page.getByRole('button', { name: 'New password', exact: true });
    await refuseTwice(button, 'New password for echo1@example.com?', /PBXes and clients that log in with the old one are refused/, async () => {
      assert.equal((await get('/instances/echo1%40example.com')).password, 'echo1-pw');
    });
    const dialog = await openDialog(button, 'New password for echo1@example.com?', /replaces the current one/);
    await dialog.getByRole('button', { name: 'Set a new password' }).click();
    await until('a new password', async () => ((await get('/instances/echo1%40example.com')).password !== 'echo1-pw' ? true : undefined));

    const dbButton = page.getByRole('button', { name: 'New database password' });
    await refuseTwice(dbButton, 'New database password for echo1@example.com?', /gets a new random password at once/, async () => {
      assert.equal(await rolePassword(user), dbBefore);
    });
    const dbDialog = await openDialog(dbButton, 'New database password for echo1@example.com?', /with the old password .* is refused/);
    await dbDialog.getByRole('button', { name: 'Set a new database password' }).click();
    await until('a new database password', async () => ((await rolePassword(user)) !== dbBefore ? true : undefined));
  });

  it('Clean up database warns of the lock and the space, shows the job running, then done', async () => {
    await openInstance('echo1@example.com');
    const database = (await get('/instances/echo1%40example.com')).database.name as string;
    const cleanups = async () => ((await get('/jobs')).jobs as { kind: string }[]).filter((j) => j.kind === 'cleanup').length;
    const earlier = await cleanups();
    const button = page.getByRole('button', { name: 'Clean up database' });
    await refuseTwice(button, 'Clean up the database of echo1@example.com?', /locked.*free disk space as large as the biggest table/s, async () => {
      assert.equal(await cleanups(), earlier, 'no clean-up job started');
    });
    // A reader holds a lock on a table: vacuumdb -f waits for it, so the job is seen running.
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const locked = superuser(database, async (sql) => {
      await sql`CREATE TABLE IF NOT EXISTS held (x int)`;
      await sql.begin(async (tx) => {
        await tx`LOCK TABLE held IN ACCESS SHARE MODE`;
        await released;
      });
    });
    try {
      const dialog = await openDialog(button, 'Clean up the database of echo1@example.com?', /vacuumdb -f/);
      await dialog.getByRole('button', { name: 'Clean up now' }).click();
      await page.getByRole('status').filter({ hasText: /Clean-up running, the database is locked/ }).waitFor({ timeout: 30_000 });
      assert.equal(await button.isDisabled(), true, 'no second clean-up while one runs');
    } finally {
      release();
      await locked;
    }
    await page.getByRole('status').filter({ hasText: /Clean-up done: database "example\.com_echo1" cleaned up/ }).waitFor({ timeout: 30_000 });
    assert.equal(await cleanups(), earlier + 1);
  });

  it("restoring over an instance asks; a backup of echo1 on echo1copy's page is refused and changes neither", async () => {
    const file = join(dir, 'echo1.apbk');
    assert.equal(ctl('backup', 'instance', 'echo1@example.com', '--file', file).state, 'succeeded');
    const state = async () => [(await get('/instances/echo1%40example.com')).password, (await get('/instances/echo1copy%40example.com')).password];
    const ids = async () => ((await get('/instances')).instances as { id: string }[]).map((i) => i.id).sort();
    const before = await state();
    const idsBefore = await ids();
    await openInstance('echo1copy@example.com');
    await page.setInputFiles('input[name=file]', file);
    const button = page.getByRole('button', { name: 'Restore over this instance' });
    await refuseTwice(button, 'Replace echo1copy@example.com with the backup?', /is a backup of echo1@example\.com.*It is not a backup of echo1copy@example\.com/s, async () => {
      assert.deepEqual(await state(), before);
    });
    // Confirmed anyway: the box refuses it, says why, and offers a copy.
    const dialog = await openDialog(button, 'Replace echo1copy@example.com with the backup?', /replaced by the backup's/);
    await dialog.getByRole('button', { name: 'Replace echo1copy@example.com' }).click();
    await page.getByRole('alert').filter({ hasText: /the backup is of echo1@example\.com, not of echo1copy@example\.com: nothing was changed.*as a copy/ }).waitFor();
    assert.deepEqual(await state(), before);
    assert.deepEqual(await ids(), idsBefore);

    // On echo1's own page, confirmed: echo1 comes back as in the backup (its password of then).
    await openInstance('echo1@example.com');
    await page.setInputFiles('input[name=file]', file);
    const own = await openDialog(page.getByRole('button', { name: 'Restore over this instance' }), 'Replace echo1@example.com with the backup?', /is a backup of echo1@example\.com/);
    assert.doesNotMatch((await own.textContent()) ?? '', /It is not a backup of/);
    await own.getByRole('button', { name: 'Replace echo1@example.com' }).click();
    await page.getByText(/restored echo1@example\.com/).waitFor({ timeout: 60_000 });
    assert.deepEqual(await state(), before);
  });

  it("restarting a service asks; cancelled its process stays, confirmed it is a new one", async () => {
    await page.goto(`${base}/manager/#/service/echo`);
    await page.getByRole('heading', { name: 'echo', exact: true }).waitFor();
    const pid = async () => (await get('/services/echo')).pid as number;
    const first = await pid();
    const button = page.getByRole('button', { name: 'Restart', exact: true });
    await refuseTwice(button, 'Restart echo?', /every instance of it is unavailable meanwhile/, async () => assert.equal(await pid(), first));
    const dialog = await openDialog(button, 'Restart echo?', /connections are cut/);
    await dialog.getByRole('button', { name: 'Restart echo' }).click();
    await until('a new process', async () => {
      const now = await pid();
      return typeof now === 'number' && now !== first ? true : undefined;
    });
  });

  it('Restart and Shutdown of the App Platform ask; only a confirmed one is asked of the box', async () => {
    await page.goto(`${base}/manager/#/settings`);
    await page.getByRole('heading', { name: 'Settings', exact: true }).waitFor();
    for (const [name, title, consequence, confirm, logged, answer] of [
      ['Restart', 'Restart the App Platform?', /The box reboots/, 'Restart the App Platform', /restart requested from the Manager/, 'this board does not restart itself'],
      ['Shutdown', 'Shut the App Platform down?', /The box switches off/, 'Shut down', /shutdown requested from the Manager/, 'this board does not shut itself down'],
    ] as const) {
      const button = page.locator('fieldset', { hasText: 'Restart and shutdown' }).getByRole('button', { name, exact: true });
      await refuseTwice(button, title, consequence, async () => assert.doesNotMatch(run.output.text, logged));
      const dialog = await openDialog(button, title, consequence);
      await dialog.getByRole('button', { name: confirm }).click();
      await page.getByText(answer).waitFor();
      await run.waitFor(logged, 10_000);
    }
  });

  it('Delete asks, saying whether the data goes too; cancelled the instance stays, confirmed it is gone', async () => {
    assert.equal(ctl('backup', 'instance', 'echo1copy@example.com', '--file', join(dir, 'echo1copy.apbk')).state, 'succeeded');
    await openInstance('echo1copy@example.com');
    await page.getByLabel('Also drop its database and database user').check();
    const button = page.getByRole('button', { name: 'Delete instance' });
    const ids = async () => ((await get('/instances')).instances as { id: string }[]).map((i) => i.id).sort();
    const before = await ids();
    assert.ok(before.includes('echo1copy@example.com'));
    await refuseTwice(button, 'Delete echo1copy@example.com and its database?', /dropped with all their data\. This cannot be undone/, async () => {
      assert.deepEqual(await ids(), before);
    });
    const dialog = await openDialog(button, 'Delete echo1copy@example.com and its database?', /cannot be undone/);
    await dialog.getByRole('button', { name: 'Delete instance and database' }).click();
    await page.getByRole('heading', { name: 'App Platform', exact: true }).waitFor();
    assert.deepEqual(await ids(), before.filter((id) => id !== 'echo1copy@example.com'));
  });

  it("brings a deleted instance back from its backup on the home page, as the seed's clean-up guide does", async () => {
    // The backup was downloaded before the delete (here: taken by ap ctl, and the instance deleted with its database).
    ctl('instance', 'create', 'gone1@example.com', '--service', 'echo', '--password', 'gone-pw');
    const file = join(dir, 'gone1.apbk');
    assert.equal(ctl('backup', 'instance', 'gone1@example.com', '--file', file).state, 'succeeded');
    ctl('instance', 'delete', 'gone1@example.com', '--drop-database');
    assert.equal(existsSync(file), true);
    await page.goto(`${base}/manager/#/`);
    await page.getByRole('heading', { name: 'Restore an instance' }).waitFor();
    await page.setInputFiles('input[name=file]', file);
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.getByText(/restored gone1@example\.com/).waitFor({ timeout: 60_000 });
    assert.equal((await get('/instances/gone1%40example.com')).password, 'gone-pw');
    // Again: the instance exists now, and the home page never overwrites one.
    await page.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: /gone1@example\.com exists/ }).waitFor();
  });

  it('the dialog and the red buttons pass the accessibility check (axe-core, WCAG 2.1 AA)', async () => {
    await openInstance('echo1@example.com');
    assert.deepEqual(await accessibilityProblems(page), [], 'the instance page with its red buttons');
    await page.getByRole('button', { name: 'New password', exact: true }).click();
    await page.getByRole('dialog').waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'with the dialog open');
    await page.keyboard.press('Escape');
  });
});

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe-core's serious and critical findings on the page as it is (as in manager.test.ts). */
async function accessibilityProblems(p: Page): Promise<string[]> {
  await p.evaluate(await readFile(AXE, 'utf8'));
  const { passed, violations } = (await p.evaluate(
    "axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }).then((r) => ({ passed: r.passes.length, violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })) }))",
  )) as { passed: number; violations: { id: string; impact: string; help: string; targets: string[] }[] };
  assert.ok(passed >= 5, `axe checked only ${passed} rules: did it run?`);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.targets.join(', ')}`);
}
