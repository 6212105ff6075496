// The primary's pure parts: a standby's name, its role and slot (the standby
// side derives the same), its password, and what PostgreSQL is told.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config';
import { InvalidField, UsageError } from '../../src/errors';
import { checkStandbyName, generatePassword, isStandbyRole, plan, renderConf, standbyRole, withHbaRules, withInclude } from '../../src/replication';

describe('replication: standby names and what is derived from them', () => {
  it('takes domain names, lower-cased', () => {
    assert.equal(checkStandbyName('Standby1.Example.COM'), 'standby1.example.com');
    assert.equal(checkStandbyName('a'), 'a');
    assert.equal(checkStandbyName('x-1.y2'), 'x-1.y2');
    const longest = [63, 63, 63, 61].map((n) => 'a'.repeat(n)).join('.');
    assert.equal(longest.length, 253);
    assert.equal(checkStandbyName(longest), longest);
  });

  it('refuses what is not a domain name, naming the field', () => {
    const bad = ['', 'a..b', '.a', 'a.', '-a', 'a-', 'a_b', 'a b', 'stand/by', 'ä.de', 'a'.repeat(64), [63, 63, 63, 62].map((n) => 'a'.repeat(n)).join('.'), "x'; DROP ROLE postgres; --"];
    for (const name of bad) {
      assert.throws(
        () => checkStandbyName(name),
        (err: unknown) => err instanceof InvalidField && err.field === 'name' && err.code === 'INVALID_FIELD',
        JSON.stringify(name),
      );
    }
    assert.throws(() => checkStandbyName(42), InvalidField);
  });

  it('derives role and slot as ap_standby_ and 16 hex digits of the SHA-256 of the lower-cased name', () => {
    const expected = `ap_standby_${createHash('sha256').update('standby1.example.com').digest('hex').slice(0, 16)}`;
    assert.equal(standbyRole('standby1.example.com'), expected);
    assert.equal(standbyRole('STANDBY1.example.com'), expected, 'the same standby whatever its case');
    assert.notEqual(standbyRole('standby2.example.com'), expected);
    assert.match(expected, /^[a-z0-9_]{27}$/, 'a slot name takes only [a-z0-9_]');
    assert.ok(isStandbyRole(expected));
    assert.ok(!isStandbyRole('example_com_app') && !isStandbyRole('ap_standby_xyz'));
  });

  it('generates passwords of 28 characters that are safe to type and to put in a connection string', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const password = generatePassword();
      assert.match(password, /^[A-HJ-NP-Za-km-z2-9]{28}$/);
      seen.add(password);
    }
    assert.equal(seen.size, 200);
  });
});

describe('replication: what PostgreSQL is told', () => {
  it('lets each standby role in for replication over TLS with its password, refuses it on the socket, and keeps the other lines', () => {
    const hba = ['# header', '# TYPE  DATABASE  USER', 'local   all       postgres           peer map=supervisor', 'local   all       all                scram-sha-256', ''].join('\n');
    const withTwo = withHbaRules(hba, ['ap_standby_aaaaaaaaaaaaaaaa', 'ap_standby_bbbbbbbbbbbbbbbb']);
    const rules = withTwo.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).map((l) => l.split(/\s+/));
    assert.deepEqual(rules, [
      ['local', 'all', 'ap_standby_aaaaaaaaaaaaaaaa', 'reject'],
      ['hostssl', 'replication', 'ap_standby_aaaaaaaaaaaaaaaa', 'all', 'scram-sha-256'],
      ['local', 'all', 'ap_standby_bbbbbbbbbbbbbbbb', 'reject'],
      ['hostssl', 'replication', 'ap_standby_bbbbbbbbbbbbbbbb', 'all', 'scram-sha-256'],
      ['local', 'all', 'postgres', 'peer', 'map=supervisor'],
      ['local', 'all', 'all', 'scram-sha-256'],
    ]);
    assert.ok(!/^host\s/m.test(withTwo), 'no plain TCP line');
    // Rewritten, not added to; and gone when there are no standbys.
    assert.equal(withHbaRules(withTwo, ['ap_standby_bbbbbbbbbbbbbbbb']), withHbaRules(hba, ['ap_standby_bbbbbbbbbbbbbbbb']));
    assert.equal(withHbaRules(withTwo, []), hba);
  });

  it('writes replication.conf: TLS, the listen address and WAL for standbys when primary; the socket only when off', () => {
    const primary = renderConf({ mode: 'primary', listen: '127.0.0.1', certFile: 'replication-1.crt', keyFile: 'replication-1.key' });
    for (const line of ["listen_addresses = '127.0.0.1'", 'ssl = on', "ssl_cert_file = 'replication-1.crt'", "ssl_key_file = 'replication-1.key'", 'wal_level = replica', 'max_wal_senders = 10', 'max_replication_slots = 10', 'hot_standby = on']) {
      assert.ok(primary.split('\n').includes(line), line);
    }
    assert.ok(renderConf({ mode: 'off', listen: '*', certFile: 'x', keyFile: 'y' }).split('\n').includes("listen_addresses = ''"));
  });

  it('adds the include to postgresql.conf once, last', () => {
    const once = withInclude("listen_addresses = ''\ninclude_if_exists = 'board.conf'")!;
    assert.equal(once.trim().split('\n').at(-1), "include_if_exists = 'replication.conf'");
    assert.equal(withInclude(once), null);
    assert.notEqual(withInclude("#include_if_exists = 'replication.conf'\n"), null, 'a commented-out line does not count');
  });

  it('plans roles and slots: every entry gets both while primary, nothing of ours stays while off', () => {
    const a = { role: 'ap_standby_aaaaaaaaaaaaaaaa', password: 'pa' };
    const b = { role: 'ap_standby_bbbbbbbbbbbbbbbb', password: 'pb' };
    const stale = 'ap_standby_cccccccccccccccc';
    assert.deepEqual(plan({ roles: [a.role, stale], slots: [stale] }, 'primary', [a, b]), [
      { kind: 'drop-slot', slot: stale },
      { kind: 'drop-role', role: stale },
      { kind: 'role', role: a.role, password: 'pa', exists: true },
      { kind: 'role', role: b.role, password: 'pb', exists: false },
      { kind: 'create-slot', slot: a.role },
      { kind: 'create-slot', slot: b.role },
    ]);
    assert.deepEqual(plan({ roles: [a.role], slots: [a.role] }, 'off', [a, b]), [
      { kind: 'drop-slot', slot: a.role },
      { kind: 'drop-role', role: a.role },
    ]);
    assert.deepEqual(plan({ roles: [], slots: [] }, 'off', [a]), []);
  });
});

describe('replication: where PostgreSQL listens (--pg-listen)', () => {
  const load = (flags: Record<string, string>) => loadConfig({ flags: { root: '/nonexistent', ...flags }, env: {}, cwd: '/nonexistent' });

  it("defaults to every address on a box and to the loopback on the dev board; S50postgresql restarts an attached one", () => {
    assert.equal(load({}).db.listen, '127.0.0.1');
    assert.equal(load({ board: 'x86_64' }).db.listen, '*');
    assert.deepEqual(load({ board: 'x86_64' }).db.restartCommand, ['/etc/init.d/S50postgresql', 'restart']);
    assert.equal(load({ 'pg-listen': '10.0.0.2, ::1' }).db.listen, '10.0.0.2,::1');
  });

  it('refuses what would not be a list of addresses in listen_addresses', () => {
    for (const bad of ["127.0.0.1'; ssl = off", 'a b', '*,10.0.0.1', '10.0.0.1,,10.0.0.2']) {
      assert.throws(() => load({ 'pg-listen': bad }), (err: unknown) => err instanceof UsageError && /--pg-listen/.test(err.message), bad);
    }
  });
});
