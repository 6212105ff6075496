// The App Installer through the bundled supervisor, over the admin socket (the
// route table the Manager's HTTP API serves too): a signed app from a local
// App Store installed, updated and uninstalled for domains in both modes, as
// a user would check it (the service, the instance served at its path, the
// databases); refusals change nothing; a failed install is rolled back. The
// app is a renamed copy of the echo fixture: accounts are machine-wide and
// other tests run echo at the same time.
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminRequest } from '../../src/admin';
import { generateKeyPair } from '../../src/image/sign';
import { layout } from '../../src/paths';
import { storeArch } from '../../src/store';
import { startImageStore, type ImageStore } from '../../tools/image/lib';
import { publishApp } from '../../tools/store/lib';
import { fetchRaw, until } from '../harness/http';
import { asSuperuser, buildFixture, ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

const APP = `inst${process.pid % 100000}`;
const ARCH = storeArch('any');
let dir: string;
let root: string;
let run: Run;
let store: ImageStore;
let appPort: number;
let managerPort: number;
let secretKey: string;
let pkg: string;

interface Answer {
  status: number;
  body: any;
}

/** One route over the admin socket, as `ap ctl` calls it. */
const api = async (method: string, path: string, options: { query?: Record<string, string>; body?: unknown } = {}): Promise<Answer> =>
  (await adminRequest(layout(root).adminSocket, 'api', { method, path, ...options }, 60_000)) as Answer;

/** Starts an installer job (202) and waits for its end; answers the job as GET /installer/jobs/{id} shows it. */
async function job(started: Answer): Promise<any> {
  assert.equal(started.status, 202, JSON.stringify(started.body));
  return until(
    `installer job ${started.body.id}`,
    async () => {
      const got = await api('GET', `/installer/jobs/${started.body.id}`);
      assert.equal(got.status, 200, JSON.stringify(got.body));
      return got.body.state === 'running' ? undefined : got.body;
    },
    120_000,
  );
}

const install = (domain: string) => api('POST', `/installer/apps/${APP}`, { body: { domain } });
const uninstall = (domain: string, dropDatabase = false) => api('DELETE', `/installer/apps/${APP}`, { query: { domain, ...(dropDatabase ? { dropDatabase: 'true' } : {}) } });
const services = async () => ((await api('GET', '/services')).body.services as { name: string; label: string; state: string }[]).filter((s) => s.name === APP);
const instances = async () => ((await api('GET', '/instances')).body.instances as { id: string; state: string }[]).map((i) => `${i.id} ${i.state}`).sort();
const databases = () => asSuperuser(root, 'postgres', async (sql) => (await sql<{ datname: string }[]>`SELECT datname FROM pg_database WHERE datname LIKE ${`%_${APP}`}`).map((r) => r.datname).sort());
const appOf = async (domain: string) => ((await api('GET', '/installer/apps', { query: { domain } })).body.apps as any[]).find((a) => a.id === APP);
const setMode = async (mode: string) => assert.equal((await api('PUT', '/settings/installerMode', { body: { value: mode } })).status, 200);
/** What a refusal must leave as it was. */
const world = async () => ({ services: await services(), instances: await instances(), databases: await databases(), jobs: (await api('GET', '/jobs')).body.jobs.length });

/** An install whose database cannot be made: CREATE DATABASE copies template1, and refuses while another session is connected to it. */
const installBlocked = (domain: string) =>
  asSuperuser(root, 'template1', async (sql) => {
    await sql`SELECT 1`;
    return job(await install(domain));
  });

/** Answers once the instance's path is served by the app (its service heard instance.start). */
const served = (domain: string) =>
  until(`${APP}@${domain} served`, async () => {
    const r = await fetchRaw(`http://127.0.0.1:${appPort}/${domain}/${APP}/hello`);
    return r.status === 200 ? r.body.toString() : undefined;
  });

before(async () => {
  dir = await workspace('ap-installer-');
  const trusted = await generateKeyPair();
  secretKey = trusted.secretKey;
  const echo = await buildFixture('echo', join(dir, 'build'));
  pkg = join(dir, APP);
  await cp(echo, pkg, { recursive: true });
  const manifest = JSON.parse(await readFile(join(pkg, 'app.json'), 'utf8'));
  await writeFile(join(pkg, 'app.json'), JSON.stringify({ ...manifest, name: APP }));
  const storeRoot = join(dir, 'store');
  await publishApp(storeRoot, pkg, { build: '100001', arch: ARCH, key: secretKey, title: 'Installer test' });
  store = await startImageStore(storeRoot);

  root = await rootWithConfig(dir, {});
  const keys = join(root, 'etc/ap/keys');
  await mkdir(keys, { recursive: true });
  await writeFile(join(keys, 'release.pub'), trusted.publicKey);
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  ({ app: appPort, manager: managerPort } = await readyPorts(run));
  assert.equal((await api('PUT', '/settings/appStoreUrl', { body: { value: store.url } })).status, 200);
});

after(async () => {
  if (run) await ensureStopped(run);
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('App Installer', () => {
  it('is shared by default and says what the PBX Manager may do', async () => {
    const info = await api('GET', '/installer');
    assert.deepEqual(info, { status: 200, body: { mode: 'shared', install: true, update: false, uninstall: "the domain's instances of the app; the app service with its last instance, unless the administrator installed it" } });
  });

  it('refuses an unknown app, a bad domain and an uninstall of what a domain does not have, changing nothing', async () => {
    const before = await world();
    const unknown = await api('POST', '/installer/apps/nosuch', { body: { domain: 'a.test' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'UNKNOWN_APP');
    for (const domain of ['A.test', 'a..test', '-a.test']) {
      const bad = await install(domain);
      assert.equal(bad.status, 400, domain);
      assert.deepEqual([bad.body.error.code, bad.body.error.field], ['INVALID_FIELD', 'domain'], domain);
    }
    // Valid domains whose default instance cannot be: the database name would pass PostgreSQL's 63
    // characters, the path would be the Manager's. Told about the domain, the one field the API has.
    for (const domain of [`${'a'.repeat(60)}.test`, 'manager']) {
      const bad = await install(domain);
      assert.deepEqual([bad.status, bad.body.error.code, bad.body.error.field], [400, 'INVALID_FIELD', 'domain'], JSON.stringify(bad.body));
      assert.match(bad.body.error.message, /^domain: the installer cannot make an instance of/);
    }
    const missing = await api('POST', `/installer/apps/${APP}`, { body: {} });
    assert.deepEqual([missing.status, missing.body.error.code], [400, 'INVALID_FIELD']);
    assert.equal((await api('GET', '/installer/apps', { query: { domain: 'Bad' } })).status, 400);
    const notThere = await uninstall('a.test');
    assert.deepEqual([notThere.status, notThere.body.error.code], [404, 'INSTALLER_NOT_INSTALLED']);
    assert.deepEqual(await world(), before);
  });

  it('shared: two domains get one service and two instances, each served at its path; a second install for a domain is refused', async () => {
    const listed = await appOf('a.test');
    assert.deepEqual([listed.installed, listed.instance, listed.service, listed.newest.build, listed.updateAvailable], [false, null, null, '100001', false]);

    const done = await job(await install('a.test'));
    assert.equal(done.state, 'succeeded', done.message);
    assert.equal(done.kind, 'installer.install');
    assert.match(done.message, new RegExp(`installed ${APP} 1\\.0\\.0 \\(build 100001\\) from the App Store; instance ${APP}@a\\.test of ${APP} created at /a\\.test/${APP}, running`));
    const { password, ...result } = done.result;
    assert.deepEqual(result, { instance: `${APP}@a.test`, path: `/a.test/${APP}`, url: null });
    assert.match(password, /^[A-Za-z0-9]{20}$/);
    assert.equal((await api('GET', `/installer/jobs/${done.id}`)).body.result.password, null, 'the password is handed out once');
    assert.match(await served('a.test'), new RegExp(`^hello from ${APP}@a\\.test`));
    // The password is in the answer only: not in the job's message, the stored job history or the log.
    assert.doesNotMatch(JSON.stringify((await api('GET', `/jobs/${done.id}`)).body), new RegExp(password));
    assert.doesNotMatch(await readFile(join(root, 'mnt/sda2/jobs.json'), 'utf8'), new RegExp(password));
    assert.doesNotMatch(run.output.text, new RegExp(password));

    const again = await install('a.test');
    assert.deepEqual([again.status, again.body.error.code], [409, 'INSTALLER_EXISTS']);

    const second = await job(await install('b.test'));
    assert.equal(second.state, 'succeeded', second.message);
    assert.doesNotMatch(second.message, /from the App Store/, 'the service was there: only the instance is made');
    assert.notEqual(second.result.password, password);
    await served('b.test');
    assert.equal((await services()).length, 1);
    assert.deepEqual(await instances(), [`${APP}@a.test running`, `${APP}@b.test running`]);
    assert.deepEqual(await databases(), [`a.test_${APP}`, `b.test_${APP}`]);

    const a = await appOf('a.test');
    assert.deepEqual([a.installed, a.instance, a.service.label, a.updateAvailable], [true, { id: `${APP}@a.test`, path: `/a.test/${APP}`, url: null, state: 'running' }, '100001', false]);
    assert.deepEqual([(await appOf('c.test')).installed, (await appOf('c.test')).instance], [false, null]);
  });

  it('shared: an update is the administrator\'s', async () => {
    const refused = await api('PUT', `/installer/apps/${APP}`);
    assert.deepEqual([refused.status, refused.body.error.code], [409, 'INSTALLER_SHARED_UPDATE']);
  });

  it('shows only its own jobs', async () => {
    const other = await api('POST', '/maintenance/analyse');
    assert.equal(other.status, 202);
    assert.equal((await api('GET', `/jobs/${other.body.id}`)).status, 200);
    const hidden = await api('GET', `/installer/jobs/${other.body.id}`);
    assert.deepEqual([hidden.status, hidden.body.error.code], [404, 'NOT_FOUND']);
    assert.equal((await api('GET', '/installer/jobs/999999')).status, 404);
  });

  it('refuses an uninstall for a domain while its install is under way: CONFLICT, not "no instance"', async () => {
    const started = await install('w.test');
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const early = await uninstall('w.test');
    assert.deepEqual([early.status, early.body.error?.code], [409, 'CONFLICT'], JSON.stringify(early.body));
    assert.match(early.body.error.message, new RegExp(`${APP} is being installed for w\\.test \\(job ${started.body.id}\\)`));
    assert.equal((await job(started)).state, 'succeeded');
    const gone = await job(await uninstall('w.test', true));
    assert.equal(gone.state, 'succeeded', gone.message);
  });

  it('shared: an uninstall deletes the domain\'s instance (its database kept unless dropped); the service goes with the last instance', async () => {
    const first = await job(await uninstall('a.test'));
    assert.equal(first.state, 'succeeded', first.message);
    assert.equal(first.result, null);
    assert.match(first.message, new RegExp(`deleted ${APP}@a\\.test \\(the database kept\\); ${APP} stays installed for its 1 other instance`));
    assert.equal((await services()).length, 1);
    assert.deepEqual(await instances(), [`${APP}@b.test running`]);
    assert.deepEqual(await databases(), [`a.test_${APP}`, `b.test_${APP}`]);
    assert.equal((await fetchRaw(`http://127.0.0.1:${appPort}/a.test/${APP}/hello`)).status, 404);
    await served('b.test');

    const last = await job(await uninstall('b.test', true));
    assert.equal(last.state, 'succeeded', last.message);
    assert.match(last.message, new RegExp(`deleted ${APP}@b\\.test with the database; uninstalled ${APP}`));
    assert.deepEqual(await services(), []);
    assert.deepEqual(await instances(), []);
    assert.deepEqual(await databases(), [`a.test_${APP}`]);
  });

  it('dedicated: install (taking back a kept database), update, uninstall of the service with its instances', async () => {
    await setMode('dedicated');
    assert.equal((await api('GET', '/installer')).body.update, true);
    const done = await job(await install('a.test'));
    assert.equal(done.state, 'succeeded', done.message);
    assert.match(done.message, new RegExp(`with the database "a\\.test_${APP}" an earlier uninstall kept, running`));
    await served('a.test');
    const again = await install('a.test');
    assert.deepEqual([again.status, again.body.error.code], [409, 'INSTALLER_EXISTS']);

    const current = await api('PUT', `/installer/apps/${APP}`);
    assert.deepEqual([current.status, current.body.error.code], [409, 'INSTALLER_UP_TO_DATE']);
    await publishApp(join(dir, 'store'), pkg, { build: '100002', arch: ARCH, key: secretKey, title: 'Installer test' });
    assert.equal((await appOf('a.test')).updateAvailable, true);
    const updated = await job(await api('PUT', `/installer/apps/${APP}`));
    assert.equal(updated.state, 'succeeded', updated.message);
    assert.equal(updated.kind, 'installer.update');
    assert.deepEqual((await services()).map((s) => [s.label, s.state]), [['100002', 'running']]);
    assert.equal((await appOf('a.test')).updateAvailable, false);
    await served('a.test');

    // A box switched to dedicated while another domain has the app: that domain's instance is not taken along.
    assert.equal((await job(await install('b.test'))).state, 'succeeded');
    const first = await job(await uninstall('a.test', true));
    assert.equal(first.state, 'succeeded', first.message);
    assert.equal(first.message, `deleted ${APP}@a.test with the database; ${APP} stays installed for its 1 other instance(s)`);
    assert.deepEqual(await instances(), [`${APP}@b.test running`]);

    const gone = await job(await uninstall('b.test', true));
    assert.equal(gone.state, 'succeeded', gone.message);
    assert.match(gone.message, new RegExp(`uninstalled ${APP}, its instances and their databases`));
    assert.deepEqual(await services(), []);
    assert.deepEqual(await instances(), []);
    assert.deepEqual(await databases(), []);
  });

  it('rolls a failed install back: a fresh one to nothing (no service, no instance, no database), else only its instance', async () => {
    const failed = await installBlocked('c.test');
    assert.equal(failed.state, 'failed');
    assert.match(failed.message, new RegExp(`installing ${APP} for c\\.test failed: .*template1.*; rolled back: instance ${APP}@c\\.test deleted; uninstalled ${APP}`));
    assert.deepEqual(await services(), []);
    assert.deepEqual(await instances(), []);
    assert.deepEqual(await databases(), []);
    // Nothing is left in the way: the same install works now.
    const retried = await job(await install('c.test'));
    assert.equal(retried.state, 'succeeded', retried.message);
    await served('c.test');

    // A service that was there before stays: only the instance is undone.
    const second = await installBlocked('d.test');
    assert.equal(second.state, 'failed');
    assert.match(second.message, new RegExp(`installing ${APP} for d\.test failed: .*; rolled back: instance ${APP}@d\.test deleted$`));
    assert.equal((await services()).length, 1);
    assert.deepEqual(await instances(), [`${APP}@c.test running`]);
    assert.deepEqual(await databases(), [`c.test_${APP}`]);
    await served('c.test');
  });

  it('answers over HTTP at /manager/api/installer too', async () => {
    const PASSWORD = 'a-good-pass-2026';
    assert.equal(runApSync(['ctl', 'password', PASSWORD, '--root', root]).status, 0);
    const base = `http://127.0.0.1:${managerPort}/manager/api`;
    const login = await fetch(`${base}/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: PASSWORD }) });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const { csrf } = (await login.json()) as { csrf: string };
    // With the App Platform DNS name set, the instance has a URL.
    assert.equal((await api('PUT', '/settings/dnsName', { body: { value: 'ap.example.com' } })).status, 200);
    const answer = await fetch(`${base}/installer/apps?domain=c.test`, { headers: { cookie } });
    assert.equal(answer.status, 200);
    const app = ((await answer.json()) as { apps: { id: string; instance: { path: string; url: string } }[] }).apps.find((a) => a.id === APP);
    assert.deepEqual([app?.instance.path, app?.instance.url], [`/c.test/${APP}`, `https://ap.example.com/c.test/${APP}`]);
    // A parameter given twice is a mistake, not the last one: which domain was meant?
    const twice = await fetch(`${base}/installer/apps/${APP}?domain=c.test&domain=d.test`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
    const refused = (await twice.json()) as { error: { code: string; field: string; message: string } };
    assert.deepEqual([twice.status, refused.error.code, refused.error.field], [400, 'INVALID_FIELD', 'domain'], JSON.stringify(refused));
    const still = ((await (await fetch(`${base}/installer/apps?domain=c.test`, { headers: { cookie } })).json()) as { apps: { id: string; instance: unknown }[] }).apps.find((a) => a.id === APP);
    assert.ok(still?.instance, 'nothing was uninstalled');
  });

  it('serves the PBX Manager with an installer token over HTTP: install and uninstall for a domain; a read token, another scope and a revoked token are refused, changing nothing', async () => {
    const mode = (await api('GET', '/installer')).body.mode;
    await setMode('shared');
    const base = `http://127.0.0.1:${managerPort}/manager/api`;
    const token = (name: string, scope: string) => {
      const made = runApSync(['ctl', 'token', 'create', name, '--scope', scope, '--root', root]);
      assert.equal(made.status, 0, made.stderr);
      return /^(apt_\S+)$/m.exec(made.stdout)![1]!;
    };
    const call = async (bearer: string, method: string, path: string, body?: unknown) => {
      const r = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: r.status, body: (await r.json()) as any };
    };
    const pbx = token('pbx-manager', 'installer');
    const reader = token('monitoring', 'read');
    const before = await world();

    // Refused before anything runs: the read token may look but not install; the installer token nothing outside /installer.
    assert.equal((await call(reader, 'GET', '/installer/apps?domain=e.test')).status, 200);
    const readOnly = await call(reader, 'POST', `/installer/apps/${APP}`, { domain: 'e.test' });
    assert.deepEqual([readOnly.status, readOnly.body.error.code], [403, 'TOKEN_SCOPE']);
    const outside = await call(pbx, 'GET', '/services');
    assert.deepEqual([outside.status, outside.body.error.code], [403, 'TOKEN_SCOPE']);
    const outsideJob = await call(pbx, 'GET', '/jobs');
    assert.equal(outsideJob.status, 403);
    assert.deepEqual(await world(), before, 'the refusals changed nothing');

    // The PBX Manager's install: a job it follows with the same token, whose result configures its side.
    const started = await call(pbx, 'POST', `/installer/apps/${APP}`, { domain: 'e.test' });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    // Root follows the job first: it is not shown the password, and that does not use up the PBX Manager's one reading.
    const seen = await job(started);
    assert.equal(seen.state, 'succeeded', seen.message);
    assert.equal(seen.result.password, null);
    // A HEAD answers no body: it does not use the reading up either.
    assert.equal((await fetch(`${base}/installer/jobs/${started.body.id}`, { method: 'HEAD', headers: { authorization: `Bearer ${pbx}` } })).status, 200);
    const done = (await call(pbx, 'GET', `/installer/jobs/${started.body.id}`)).body;
    assert.equal(done.result.instance, `${APP}@e.test`);
    assert.match(done.result.password, /^[A-Za-z0-9]{20}$/);
    // Handed out once: not again to the PBX Manager, never to another token or root.
    const admin = token('admin-script', 'admin');
    const peer = token('pbx-manager-peer', 'installer');
    for (const [who, read] of [['the same token again', () => call(pbx, 'GET', `/installer/jobs/${started.body.id}`)], ['an admin token', () => call(admin, 'GET', `/installer/jobs/${started.body.id}`)], ['another installer token', () => call(peer, 'GET', `/installer/jobs/${started.body.id}`)], ['ap ctl', () => api('GET', `/installer/jobs/${started.body.id}`)]] as const) {
      const later = await read();
      assert.equal(later.status, 200, who);
      assert.deepEqual(later.body.result, { instance: `${APP}@e.test`, path: `/e.test/${APP}`, url: 'https://ap.example.com/e.test/' + APP, password: null }, who);
    }
    assert.match(await served('e.test'), /^hello from/);
    const listed = (await call(pbx, 'GET', '/installer/apps?domain=e.test')).body.apps.find((a: { id: string }) => a.id === APP);
    assert.equal(listed.installed, true);

    // Revoked: refused at the next request, and the instance stays.
    const id = /^([0-9a-f]{16}) {2}pbx-manager /m.exec(runApSync(['ctl', 'token', 'list', '--root', root]).stdout)![1]!;
    assert.equal(runApSync(['ctl', 'token', 'revoke', id, '--root', root]).status, 0);
    const revoked = await call(pbx, 'DELETE', `/installer/apps/${APP}?domain=e.test`);
    assert.deepEqual([revoked.status, revoked.body.error.code], [401, 'UNAUTHENTICATED']);
    assert.ok((await instances()).includes(`${APP}@e.test running`));

    // A new token for the PBX Manager uninstalls it again.
    const again = token('pbx-manager-2', 'installer');
    const removing = await call(again, 'DELETE', `/installer/apps/${APP}?domain=e.test&dropDatabase=true`);
    assert.equal(removing.status, 202, JSON.stringify(removing.body));
    const removed = await until('the uninstall by token', async () => {
      const got = await call(again, 'GET', `/installer/jobs/${removing.body.id}`);
      return got.body.state === 'running' ? undefined : got.body;
    }, 120_000);
    assert.equal(removed.state, 'succeeded', removed.message);
    assert.ok(!(await instances()).some((i) => i.startsWith(`${APP}@e.test `)));
    await setMode(mode);
  });

  it('uninstalls an app that left the store: its id names its service', async () => {
    await writeFile(join(dir, 'store/apps.json'), JSON.stringify({ apps: [] }));
    const unknown = await install('d.test');
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'UNKNOWN_APP']);
    const gone = await job(await uninstall('c.test', true));
    assert.equal(gone.state, 'succeeded', gone.message);
    assert.deepEqual(await services(), []);
    assert.deepEqual(await instances(), []);
  });

  it("never uninstalls a service the administrator installed: in either mode only the domain's instances go", async () => {
    await publishApp(join(dir, 'store'), pkg, { build: '100003', arch: ARCH, key: secretKey, title: 'Installer test' });
    const byHand = await api('POST', `/store/apps/${APP}/install`, { body: {} });
    assert.equal(byHand.status, 202, JSON.stringify(byHand.body));
    await until('the install by hand', async () => ((await api('GET', `/jobs/${byHand.body.id}`)).body.state === 'running' ? undefined : true), 120_000);
    assert.deepEqual((await services()).map((s) => s.label), ['100003']);

    for (const mode of ['shared', 'dedicated']) {
      await setMode(mode);
      for (const domain of ['f.test', 'g.test']) assert.equal((await job(await install(domain))).state, 'succeeded', `${mode} ${domain}`);
      const one = await job(await uninstall('f.test', true));
      assert.equal(one.state, 'succeeded', one.message);
      assert.equal(one.message, `deleted ${APP}@f.test with the database; ${APP} stays installed: the administrator installed it`, mode);
      assert.deepEqual(await instances(), [`${APP}@g.test running`], mode);
      assert.equal((await services()).length, 1, mode);
      await served('g.test');
      // Its last instance too: the service stays.
      const last = await job(await uninstall('g.test', true));
      assert.equal(last.state, 'succeeded', last.message);
      assert.deepEqual([await instances(), (await services()).map((s) => [s.label, s.state])], [[], [['100003', 'running']]], mode);
    }
    assert.equal((await api('DELETE', `/services/${APP}`)).status, 202, 'the administrator uninstalls it by hand');
    await until('the uninstall by hand', async () => ((await services()).length === 0 ? true : undefined), 120_000);
  });
});
