// The standby's pure parts and its files: standby.conf (parsed, set aside
// when malformed, the settings kept in it), the primary's address, the
// standby's replication.conf, the primary's refusals as codes, and the swap
// that a start finishes or undoes (plain folders stand in for clusters).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApiRoute } from '../../src/api';
import { ApError, InvalidField } from '../../src/errors';
import {
  classifyBaseBackupError as classify,
  completeSwap,
  fileSettings,
  finishSwap,
  parsePrimary,
  parseStandbyConf,
  readStandbyConf,
  refuseOnStandby,
  renderStandbyConf,
  renderStandbyReplicationConf,
  restoreStandbySettings,
  standbyRole,
  writeMarker,
  type StandbyConf,
} from '../../src/replication';
import { recordingLogger } from '../harness/log';
import { workspace } from '../harness/workspace';

const CONF: StandbyConf = { version: 1, primary: { host: 'primary.example.com', port: 5432 }, name: 'standby1.example.com', password: 'Abc23', settings: { appStoreUrl: 'https://store.example.com' } };

describe('replication: the primary address', () => {
  it('takes a host name or an IP literal, with a port (5432 by default)', () => {
    assert.deepEqual(parsePrimary('Primary.Example.com'), { host: 'primary.example.com', port: 5432 });
    assert.deepEqual(parsePrimary('10.0.0.2:5433'), { host: '10.0.0.2', port: 5433 });
    assert.deepEqual(parsePrimary('[::1]:6000'), { host: '::1', port: 6000 });
    assert.deepEqual(parsePrimary('fe80::1'), { host: 'fe80::1', port: 5432 });
    assert.deepEqual(parsePrimary('[::1]'), { host: '::1', port: 5432 });
  });

  it('refuses what is not host[:port], naming the field', () => {
    for (const bad of ['', 'a:0', 'a:65536', 'a:x', 'a b', 'host;rm -rf /', "x' sslmode=disable", 'a..b', '-a.b', 42]) {
      assert.throws(() => parsePrimary(bad), (err: unknown) => err instanceof InvalidField && err.field === 'primary', JSON.stringify(bad));
    }
  });
});

describe('replication: standby.conf', () => {
  let dir: string;
  after(async () => dir && (await rm(dir, { recursive: true, force: true })));

  it('parses the documented form and refuses what is not it, saying why', () => {
    assert.deepEqual(parseStandbyConf(JSON.stringify(CONF)), CONF);
    assert.deepEqual(parseStandbyConf(JSON.stringify({ ...CONF, name: 'Standby1.Example.com', settings: undefined })), { ...CONF, settings: {} });
    const bad: [unknown, RegExp][] = [
      ['{', /not JSON/],
      [[], /not a JSON object/],
      [{ ...CONF, version: 2 }, /version 2 is not 1/],
      [{ ...CONF, primary: { host: 'x' } }, /"primary" needs/],
      [{ ...CONF, primary: { host: 'x', port: 70000 } }, /port/],
      [{ ...CONF, name: 'not a name' }, /not a domain name/],
      [{ ...CONF, password: '' }, /"password"/],
      [{ ...CONF, settings: { a: 1 } }, /"settings"/],
      [{ ...CONF, promote: 'standby' }, /"promote"/],
    ];
    for (const [value, why] of bad) {
      assert.throws(() => parseStandbyConf(typeof value === 'string' ? value : JSON.stringify(value)), (err: unknown) => err instanceof ApError && err.code === 'STANDBY_CONF_INVALID' && why.test(err.message), JSON.stringify(value));
    }
  });

  it('sets a malformed file aside with a clear log line, and answers none', async () => {
    dir = await workspace('ap-standbyconf-');
    const path = join(dir, 'standby.conf');
    const log = recordingLogger();
    assert.equal(await readStandbyConf(path, log), null, 'none without a file');
    await writeFile(path, '{"version":1,');
    assert.equal(await readStandbyConf(path, log), null);
    assert.equal(existsSync(path), false);
    const aside = (await readdir(dir)).filter((f) => f.startsWith('standby.conf.invalid-'));
    assert.equal(aside.length, 1);
    assert.equal(await readFile(join(dir, aside[0]!), 'utf8'), '{"version":1,', 'kept as it was, for a technician');
    assert.match(log.lines.warn.join('\n'), /standby\.conf is malformed \(not JSON.*\); moved to .*standby\.conf\.invalid-.*not as a standby/);
  });

  it('keeps the standby\'s Manager settings in the file (0600), each change written whole', async () => {
    const path = join(dir, 'standby.conf');
    const store = fileSettings(path, CONF);
    assert.equal(await store.get('appStoreUrl'), 'https://store.example.com');
    assert.equal(await store.get('missing'), null);
    await Promise.all([store.set('a', '1'), store.set('b', '2')]);
    await store.delete('appStoreUrl');
    // A section of the Manager's Settings saved at once: one write.
    await store.setMany({ b: '3', c: '4' });
    const stored = parseStandbyConf(await readFile(path, 'utf8'));
    assert.deepEqual(stored, { ...CONF, settings: { a: '1', b: '3', c: '4' } });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readStandbyConf(path, recordingLogger()), stored);
  });

  it("restores a backup's settings whole, keeping this box's link to the primary; a malformed one changes nothing", async () => {
    const path = join(dir, 'standby.conf');
    const store = fileSettings(path, CONF);
    await store.set('dnsName', 'now.example.com');
    const before = await readFile(path, 'utf8');
    await assert.rejects(restoreStandbySettings('{"version":1,', store, recordingLogger()), (err: unknown) => err instanceof ApError && err.code === 'STANDBY_CONF_INVALID');
    assert.equal(await readFile(path, 'utf8'), before);
    const backup = renderStandbyConf({ ...CONF, primary: { host: 'old-primary.example.com', port: 5433 }, password: 'old', settings: { dnsName: 'backup.example.com', timezone: 'Europe/Vienna' } });
    assert.equal(await restoreStandbySettings(backup, store, recordingLogger()), 2);
    assert.deepEqual(parseStandbyConf(await readFile(path, 'utf8')), { ...CONF, settings: { dnsName: 'backup.example.com', timezone: 'Europe/Vienna' } });
    assert.equal(await store.get('appStoreUrl'), null, 'a setting the backup does not hold is gone');
  });
});

describe("replication: the standby's replication.conf", () => {
  it('streams from the primary over TLS as its role, from its slot, listening on the socket only', () => {
    const text = renderStandbyReplicationConf({ primary: { host: '10.0.0.2', port: 5433 }, name: 'standby1.example.com', password: "pa'ss\\word" });
    const role = standbyRole('standby1.example.com');
    const lines = text.split('\n');
    assert.ok(lines.includes("listen_addresses = ''"));
    assert.ok(lines.includes('hot_standby = on'));
    assert.ok(lines.includes(`primary_slot_name = '${role}'`));
    // A dump on the standby is cancelled by a conflicting replay only after 10 minutes, and
    // the standby's slot never holds back VACUUM on the primary.
    assert.ok(lines.includes("max_standby_streaming_delay = '10min'"), text);
    assert.ok(lines.includes('hot_standby_feedback = off'), text);
    // The conninfo's quotes escaped for libpq (\'), then the whole value for postgresql.conf ('' and \\).
    assert.ok(
      lines.includes(`primary_conninfo = 'host=''10.0.0.2'' port=5433 user=${role} password=''pa\\\\''ss\\\\\\\\word'' sslmode=require application_name=''standby1.example.com'''`),
      text,
    );
  });
});

describe("replication: the primary's refusals as codes", () => {
  const where = { primary: { host: 'p', port: 5432 }, name: 's.example.com' };
  it('tells a wrong password, an unknown standby and an unreachable primary apart, with the primary\'s words', () => {
    const auth = classify('pg_basebackup: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed for user "ap_standby_x"', where);
    assert.equal(auth.code, 'STANDBY_AUTH');
    assert.match(auth.message, /password authentication failed/);
    assert.equal(classify('FATAL:  no pg_hba.conf entry for replication connection from host "127.0.0.1", user "ap_standby_x", SSL encryption', where).code, 'STANDBY_UNKNOWN');
    assert.equal(classify('ERROR:  replication slot "ap_standby_x" does not exist', where).code, 'STANDBY_UNKNOWN');
    assert.equal(classify('connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?', where).code, 'PRIMARY_UNREACHABLE');
    assert.equal(classify('could not translate host name "nowhere" to address: Name or service not known', where).code, 'PRIMARY_UNREACHABLE');
    assert.equal(classify('pg_basebackup: error: could not send replication command "START_REPLICATION": ERROR:  replication slot "ap_standby_x" is active for PID 3620', where).code, 'STANDBY_IN_USE');
    // A wrong port: another program answers (the Manager's HTTPS), or a PostgreSQL that is no primary of ours (no TLS).
    assert.equal(classify('connection to server at "127.0.0.1", port 8443 failed: received invalid response to SSL negotiation: ?', where).code, 'PRIMARY_UNREACHABLE');
    assert.equal(classify('connection to server at "127.0.0.1", port 5433 failed: server does not support SSL, but SSL was required', where).code, 'STANDBY_UNKNOWN');
    assert.equal(classify('something else', where).code, 'REPLICATION_FAILED');
  });
});

describe('replication: the swap to standby at a start', () => {
  let top: string;
  let dir: string;
  let made = 0;
  before(async () => (top = await workspace('ap-swap-')));
  after(async () => rm(top, { recursive: true, force: true }));

  const layout = async () => {
    dir = join(top, String(++made));
    await mkdir(dir);
    const p = { pgsql: join(dir, 'pgsql'), apps: join(dir, 'apps'), data: dir, standbyConf: join(dir, 'standby.conf') };
    await rm(p.pgsql, { recursive: true, force: true });
    for (const d of [join(p.pgsql), join(p.apps, 'localapp'), join(p.apps, 'manager'), join(dir, 'appdata/localapp')]) await mkdir(d, { recursive: true });
    await writeFile(join(p.pgsql, 'PG_VERSION'), 'old\n');
    await mkdir(`${p.pgsql}.standby`);
    await writeFile(join(`${p.pgsql}.standby`, 'PG_VERSION'), 'new\n');
    await writeFile(join(`${p.pgsql}.standby`, 'standby.signal'), '');
    return p;
  };

  it('without the marker (a setup cut before it decided): removes the copy and changes nothing else', async () => {
    const p = await layout();
    assert.equal(await finishSwap(p, recordingLogger()), 'removed-copy');
    assert.equal(existsSync(`${p.pgsql}.standby`), false);
    assert.equal(await readFile(join(p.pgsql, 'PG_VERSION'), 'utf8'), 'old\n');
    assert.ok(existsSync(join(p.apps, 'localapp')));
    assert.equal(existsSync(p.standbyConf), false);
    assert.equal(await finishSwap(p, recordingLogger()), 'none');
  });

  for (const cut of ['before the swap', 'between the two renames', 'after the swap, before the old cluster went']) {
    it(`with the marker, cut ${cut}: finishes the switch (apps gone, copy in place, standby.conf written)`, async () => {
      const p = await layout();
      await writeMarker(p, CONF);
      if (cut !== 'before the swap') {
        await rename(p.pgsql, `${p.pgsql}.old`);
        if (cut.startsWith('after')) await rename(`${p.pgsql}.standby`, p.pgsql);
      }
      assert.equal(await finishSwap(p, recordingLogger()), 'swapped');
      assert.equal(await readFile(join(p.pgsql, 'PG_VERSION'), 'utf8'), 'new\n');
      assert.equal(await readFile(join(`${p.pgsql}.old`, 'PG_VERSION'), 'utf8'), 'old\n', 'kept until the new cluster answers');
      assert.deepEqual(await readdir(p.apps), ['manager'], "the local app went; the supervisor's own package stays");
      assert.deepEqual(await readdir(join(dir, 'appdata')), []);
      assert.deepEqual(parseStandbyConf(await readFile(p.standbyConf, 'utf8')), CONF);
      // The new cluster answered: the old one and the marker go; a start after that finds nothing to do.
      await completeSwap(p, recordingLogger());
      assert.equal(existsSync(`${p.pgsql}.old`), false);
      assert.equal(existsSync(`${p.pgsql}.standby.json`), false);
      assert.equal(await finishSwap(p, recordingLogger()), 'none');
      assert.equal(await readFile(join(p.pgsql, 'PG_VERSION'), 'utf8'), 'new\n');
    });
  }
});

describe("replication: a standby's routes", () => {
  const primary = { host: 'primary.example.com', port: 5432 };
  const ran: string[] = [];
  const route = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', pattern: string, upload = false): ApiRoute => ({ method, pattern, summary: pattern, upload, handler: () => (ran.push(`${method} ${pattern}`), 'ran') });
  const routes = [route('GET', '/instances'), route('POST', '/instances'), route('PUT', '/services/{name}'), route('POST', '/restores/manager'), route('POST', '/restores/manager/upload', true), route('PUT', '/settings/{name}'), route('POST', '/installer/apps/{id}'), route('DELETE', '/installer/apps/{id}'), route('GET', '/installer/apps'), route('POST', '/tokens'), route('DELETE', '/tokens/{id}'), route('GET', '/tokens')];
  let dir: string;
  before(async () => {
    dir = await workspace('ap-standby-routes-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('refuse changes to apps and API tokens with NOT_ON_STANDBY, naming the primary; reads and settings run', async () => {
    const table = refuseOnStandby(routes, primary);
    const by = (method: string, pattern: string) => table.find((r) => r.method === method && r.pattern === pattern)!;
    for (const [method, pattern] of [['POST', '/instances'], ['PUT', '/services/{name}'], ['POST', '/restores/manager'], ['POST', '/restores/manager/upload'], ['POST', '/installer/apps/{id}'], ['DELETE', '/installer/apps/{id}'], ['POST', '/tokens'], ['DELETE', '/tokens/{id}']] as const) {
      assert.throws(() => by(method, pattern).handler({ params: {}, query: {}, body: {} }), (err: ApError) => err.code === 'NOT_ON_STANDBY' && /primary\.example\.com:5432/.test(err.message), `${method} ${pattern}`);
    }
    assert.equal(by('GET', '/instances').handler({ params: {}, query: {}, body: {} }), 'ran');
    assert.equal(by('GET', '/tokens').handler({ params: {}, query: {}, body: {} }), 'ran');
    assert.equal(by('PUT', '/settings/{name}').handler({ params: {}, query: {}, body: {} }), 'ran');
    // The PBX Manager's App Installer reads here, and installs on the primary.
    assert.equal(by('GET', '/installer/apps').handler({ params: {}, query: {}, body: {} }), 'ran');
  });

  it("restore the standby's settings from a file on the box or from an upload, which is removed afterwards", async () => {
    const seen: { path: string; text: string }[] = [];
    const conf = async (file: string) => {
      seen.push({ path: file, text: await readFile(file, 'utf8') });
      if (seen.at(-1)!.text === 'not a backup') throw new ApError('STANDBY_CONF_INVALID', 'not valid');
      return { restored: 'standby.conf' as const, from: '2026-11-30T00:00:00.000Z', settings: 3 };
    };
    const table = refuseOnStandby(routes, primary, { conf, uploadDir: dir });
    const by = (pattern: string) => table.find((r) => r.method === 'POST' && r.pattern === pattern)!;
    assert.equal(by('/restores/manager/upload').upload, true, 'still streamed');
    assert.equal(by('/restores/manager/upload').status, 200, 'answered at once, no job');
    async function* chunks() {
      yield Buffer.from('the uploaded ');
      yield Buffer.from('backup');
    }
    assert.deepEqual(await by('/restores/manager/upload').handler({ params: {}, query: {}, body: chunks() }), { restored: 'standby.conf', from: '2026-11-30T00:00:00.000Z', settings: 3 });
    assert.equal(seen.at(-1)!.text, 'the uploaded backup');
    assert.equal(seen.at(-1)!.path.startsWith(`${dir}/`), true);
    assert.deepEqual(await readdir(dir), [], 'the upload is removed');

    const file = join(dir, 'manager.apbk');
    await writeFile(file, 'on the box');
    await by('/restores/manager').handler({ params: {}, query: {}, body: { file } });
    assert.deepEqual(seen.at(-1), { path: file, text: 'on the box' });
    assert.throws(() => by('/restores/manager').handler({ params: {}, query: {}, body: { file: 'relative.apbk' } }), InvalidField);
    await rm(file);

    async function* bad() {
      yield Buffer.from('not a backup');
    }
    await assert.rejects(Promise.resolve(by('/restores/manager/upload').handler({ params: {}, query: {}, body: bad() })), (err: ApError) => err.code === 'STANDBY_CONF_INVALID');
    assert.deepEqual(await readdir(dir), [], 'a refused upload is removed too');
  });
});
