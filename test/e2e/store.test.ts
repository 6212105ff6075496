// The App Store through the bundled supervisor: apps.json read from the
// appStoreUrl setting, a signed package installed and running, and every
// refusal (unsigned, foreign key, a file changed after signing, another
// architecture, an unknown app) leaving nothing installed and nothing behind.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair } from '../../src/image/sign';
import { storeArch } from '../../src/store';
import { startImageStore, type ImageStore } from '../../tools/image/lib';
import { publishApp } from '../../tools/store/lib';
import { until } from '../harness/http';
import { buildFixture, ensureStopped, runAp, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';

let dir: string;
let root: string;
let run: Run;
let store: ImageStore;
const ARCH = storeArch('any');

/** `ap ctl … --json` without blocking the event loop (the store is served from this process). */
const ctl = async (...args: string[]): Promise<{ code: number; body: any; stderr: string }> => {
  const r = runAp(['ctl', ...args, '--json', '--root', root]);
  const [code] = await r.exited;
  const text = r.output.text;
  let body: any = null;
  try {
    body = JSON.parse(text);
  } catch {
    // an error for people (a usage error), not JSON
  }
  return { code: code ?? -1, body, stderr: text };
};

async function inlineApp(name: string, version = '1.0.0'): Promise<string> {
  const folder = join(dir, 'src', name);
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'app.json'), JSON.stringify({ name, version, entry: ['node', 'main.js'] }));
  await writeFile(join(folder, 'main.js'), "require('fs'); setInterval(() => {}, 1000);\n");
  return folder;
}

before(async () => {
  dir = await workspace('ap-store-');
  const trusted = await generateKeyPair();
  const foreign = await generateKeyPair();
  const storeRoot = join(dir, 'store');
  const echo = await buildFixture('echo', join(dir, 'src'));
  await publishApp(storeRoot, echo, { build: '100001', arch: ARCH, key: trusted.secretKey, title: 'Echo', manufacturer: 'Tests' });
  await publishApp(storeRoot, echo, { build: '100002', arch: 'any', under: ARCH, key: trusted.secretKey, title: 'Echo', manufacturer: 'Tests' });
  await publishApp(storeRoot, await inlineApp('unsigned'), { build: '100001', arch: ARCH, key: null });
  await publishApp(storeRoot, await inlineApp('foreign'), { build: '100001', arch: ARCH, key: foreign.secretKey });
  const tampered = await publishApp(storeRoot, await inlineApp('tampered'), { build: '100001', arch: ARCH, key: trusted.secretKey });
  await writeFile(join(tampered, 'main.js'), "require('fs'); setInterval(() => {}, 9999);\n"); // same size, other bytes
  await publishApp(storeRoot, await inlineApp('elsewhere'), { build: '100001', arch: ARCH === 'arm' ? 'arm64' : 'arm', key: trusted.secretKey });
  // An entry no box can use is left out, not fatal.
  const index = JSON.parse(await readFile(join(storeRoot, 'apps.json'), 'utf8'));
  index.apps.push({ id: 'broken', folder: '../../etc', versions: [{ build: '1' }] });
  await writeFile(join(storeRoot, 'apps.json'), JSON.stringify(index));
  store = await startImageStore(storeRoot);

  root = await rootWithConfig(dir, {});
  await mkdir(join(root, 'etc/ap/keys'), { recursive: true });
  await writeFile(join(root, 'etc/ap/keys/release.pub'), trusted.publicKey);
  run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0']);
  await run.waitFor(/ready: Manager at/);
});

after(async () => {
  if (run) await ensureStopped(run);
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const leftovers = async () => (await readdir(join(root, 'mnt/sda2'))).filter((n) => n.startsWith('store-'));
const installed = async () => ((await ctl('service', 'list')).body as { name: string; version: string; state: string }[]).map((s) => s.name);

describe('App Store', () => {
  it('says the App Store URL is missing before it is set', async () => {
    const r = await ctl('store', 'list');
    assert.equal(r.code, 1);
    assert.equal(r.body.error.code, 'NO_STORE');
    assert.equal((await ctl('setting', 'set', 'appStoreUrl', store.url)).code, 0);
  });

  it('lists the apps, newest build first, and leaves out what no box can use', async () => {
    const { body, code } = await ctl('store', 'list');
    assert.equal(code, 0);
    assert.equal(body.arch, ARCH);
    const echo = body.apps.find((a: { id: string }) => a.id === 'echo');
    assert.deepEqual(echo.versions.map((v: { build: string }) => v.build), ['100002', '100001']);
    assert.equal(echo.installed, null);
    assert.deepEqual(body.skipped, ['broken']);
  });

  it('installs a signed package (its newest build) and runs it', async () => {
    const r = await ctl('store', 'install', 'echo');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body.state, 'succeeded');
    assert.match(r.body.message, /installed echo .* \(build 100002\) from the App Store/);
    const running = await until('echo running', async () => {
      const s = ((await ctl('service', 'list')).body as { name: string; state: string }[]).find((x) => x.name === 'echo');
      return s?.state === 'running' ? s : undefined;
    });
    assert.equal(running.name, 'echo');
    assert.ok((await ctl('store', 'list')).body.apps.find((a: { id: string }) => a.id === 'echo').installed);
    // An older build on request.
    const older = await ctl('store', 'install', 'echo', '--build', '100001');
    assert.equal(older.body.state, 'succeeded', older.body.message);
    assert.match(older.body.message, /build 100001/);
    assert.deepEqual(await leftovers(), []);
  });

  it('refuses unsigned, foreign-signed, changed and foreign-architecture packages, installing nothing', async () => {
    for (const [id, reason] of [
      ['unsigned', /is not signed/],
      ['foreign', /does not verify with a trusted key/],
      ['tampered', /main\.js does not match its SHA-256/],
      ['elsewhere', new RegExp(`has no package of elsewhere build 100001 for ${ARCH}`)],
      ['nosuch', /has no app nosuch/],
    ] as const) {
      const r = await ctl('store', 'install', id);
      assert.equal(r.code, 1, id);
      assert.equal(r.body.state, 'failed', id);
      assert.match(r.body.message, reason, id);
    }
    assert.deepEqual((await installed()).sort(), ['echo']);
    assert.deepEqual(await leftovers(), []);
    const bad = await ctl('store', 'install', 'echo', '--build', 'latest');
    assert.equal(bad.code, 1);
    assert.equal(bad.body.error.code, 'INVALID_FIELD');
  });
});
