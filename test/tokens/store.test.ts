// The API tokens in a real manager database: made, listed without secrets,
// checked, expired, revoked, throttled, and their last use written at most
// once a minute and never where the database is read-only.
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { LoginGate } from '../../src/auth/gate';
import { connect, migrate, MIGRATIONS } from '../../src/db';
import { ApError } from '../../src/errors';
import { ApiTokens, MAX_TOKENS, type TokenThrottle } from '../../src/tokens';
import { recordingLogger, silentLogger } from '../harness/log';
import { createTestDatabase, stopTestCluster, testCluster, type TestDatabase } from '../harness/pg';

let db: TestDatabase;
let clock: number;
let gate: LoginGate;
let throttle: TokenThrottle;
beforeEach(async () => {
  db = await createTestDatabase();
  await migrate(db.sql, MIGRATIONS, silentLogger());
  clock = Date.parse('2026-11-30T12:00:00Z');
  gate = new LoginGate();
  throttle = { lockedOut: (r) => gate.locked(r, clock), failed: (r) => gate.failed(r, clock) };
});
afterEach(() => db.drop());
after(() => stopTestCluster());

const store = (options: { readOnly?: boolean; log?: ReturnType<typeof recordingLogger> } = {}) =>
  new ApiTokens({ sql: db.sql, readOnly: options.readOnly ?? false, throttle, log: options.log ?? silentLogger(), now: () => clock });
const refused = (code: string, pattern?: RegExp) => (err: unknown) => err instanceof ApError && err.code === code && (!pattern || pattern.test(err.message));
/** Lets a write the store does not wait for land. */
const settle = () => new Promise((r) => setTimeout(r, 200));

describe('API tokens', () => {
  it('keeps only the hash: the list and the table hold no secret; the token authenticates with its scopes', async () => {
    const log = recordingLogger();
    const tokens = store({ log });
    const made = await tokens.create({ name: 'prometheus', scopes: ['metrics', 'read', 'metrics'] });
    assert.deepEqual(made.scopes, ['metrics', 'read']);
    assert.equal(made.expiresAt, null);
    const secret = made.token.split('_').slice(2).join('_');
    const rows = await db.sql`SELECT * FROM api_tokens`;
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows).includes(secret) && !JSON.stringify(rows).includes(made.token));
    const listed = await tokens.list();
    assert.deepEqual(listed, [{ id: made.id, name: 'prometheus', scopes: ['metrics', 'read'], createdAt: made.createdAt, expiresAt: null, lastUsedAt: null }]);
    assert.deepEqual(await tokens.authenticate(made.token, '192.0.2.1'), { id: made.id, name: 'prometheus', scopes: ['metrics', 'read'] });
    assert.ok(Object.values(log.lines).flat().every((line) => !line.includes(secret)));
    assert.ok(log.lines.info.some((l) => l.includes(`API token prometheus (${made.id}) created`)));
  });

  it('refuses bad input and changes nothing: names, duplicates without case, scopes, days', async () => {
    const tokens = store();
    await tokens.create({ name: 'CI-1', scopes: ['admin'], expiresInDays: 30 });
    for (const name of ['', '-lead', 'has space', 'x'.repeat(41), 'ümlaut']) await assert.rejects(tokens.create({ name, scopes: ['read'] }), refused('INVALID_FIELD'), name);
    await assert.rejects(tokens.create({ name: 'ci-1', scopes: ['read'] }), refused('EXISTS', /ci-1 exists already/));
    await assert.rejects(tokens.create({ name: 'none', scopes: [] }), refused('INVALID_FIELD'));
    for (const days of [0, 3651, 1.5]) await assert.rejects(tokens.create({ name: 'days', scopes: ['read'], expiresInDays: days }), refused('INVALID_FIELD'));
    assert.deepEqual((await tokens.list()).map((t) => t.name), ['CI-1']);
  });

  it('keeps at most MAX_TOKENS', async () => {
    const tokens = store();
    await db.sql`INSERT INTO api_tokens (id, name, scopes, secret_sha256) SELECT lpad(to_hex(i), 16, '0'), 'n' || i, '{read}', decode(repeat('00', 32), 'hex') FROM generate_series(1, ${MAX_TOKENS}) i`;
    await assert.rejects(tokens.create({ name: 'one-more', scopes: ['read'] }), refused('CONFLICT', /revoke one first/));
  });

  it('refuses a malformed, unknown, wrong-secret, revoked or expired token as UNAUTHENTICATED', async () => {
    const tokens = store();
    const made = await tokens.create({ name: 'short-lived', scopes: ['read'], expiresInDays: 1 });
    const other = await tokens.create({ name: 'other', scopes: ['read'] });
    const wrongSecret = `apt_${made.id}_${other.token.split('_').slice(2).join('_')}`;
    // Each from its own address: the throttle is not what is tested here.
    await assert.rejects(tokens.authenticate('not-a-token', '192.0.2.10'), refused('UNAUTHENTICATED', /no App Platform API token/));
    await assert.rejects(tokens.authenticate(`apt_ffffffffffffffff_${'A'.repeat(43)}`, '192.0.2.11'), refused('UNAUTHENTICATED', /unknown or was revoked/));
    await assert.rejects(tokens.authenticate(wrongSecret, '192.0.2.12'), refused('UNAUTHENTICATED', /unknown or was revoked/));
    clock += 86_400_000 - 1;
    assert.equal((await tokens.authenticate(made.token, '192.0.2.13')).name, 'short-lived');
    clock += 1;
    await assert.rejects(tokens.authenticate(made.token, '192.0.2.14'), refused('UNAUTHENTICATED', /short-lived expired at 2026-12-01T12:00:00.000Z/));
    assert.deepEqual(await tokens.revoke(other.id), { revoked: other.id, name: 'other' });
    await assert.rejects(tokens.authenticate(other.token, '192.0.2.15'), refused('UNAUTHENTICATED', /unknown or was revoked/));
    await assert.rejects(tokens.revoke(other.id), refused('NOT_FOUND'));
  });

  it('counts bad tokens in the login throttle: the address is locked out, a good token too, other addresses not', async () => {
    const tokens = store();
    const made = await tokens.create({ name: 'good', scopes: ['admin'] });
    for (let i = 0; i < 5; i++) await assert.rejects(tokens.authenticate('apt_bad', '192.0.2.20'), refused('UNAUTHENTICATED'));
    await assert.rejects(tokens.authenticate(made.token, '192.0.2.20'), refused('TOO_MANY_ATTEMPTS'));
    // The same throttle as the Manager's passwords.
    assert.throws(() => gate.admit('192.0.2.20', clock), refused('TOO_MANY_ATTEMPTS'));
    assert.equal((await tokens.authenticate(made.token, '192.0.2.21')).name, 'good');
    // A good token from an address clears nothing of its count.
    clock += 2000;
    assert.equal((await tokens.authenticate(made.token, '192.0.2.20')).name, 'good');
    await assert.rejects(tokens.authenticate('apt_bad', '192.0.2.20'), refused('UNAUTHENTICATED'));
    await assert.rejects(tokens.authenticate(made.token, '192.0.2.20'), refused('TOO_MANY_ATTEMPTS'));
  });

  it('writes the last use at most once a minute per token', async () => {
    const tokens = store();
    const made = await tokens.create({ name: 'used', scopes: ['read'] });
    const lastUsed = async () => (await tokens.list())[0]!.lastUsedAt;
    await tokens.authenticate(made.token, '192.0.2.30');
    await settle();
    assert.equal(await lastUsed(), '2026-11-30T12:00:00.000Z');
    clock += 59_000;
    await tokens.authenticate(made.token, '192.0.2.30');
    await settle();
    assert.equal(await lastUsed(), '2026-11-30T12:00:00.000Z');
    clock += 1000;
    await tokens.authenticate(made.token, '192.0.2.30');
    await settle();
    assert.equal(await lastUsed(), '2026-11-30T12:01:00.000Z');
  });

  it('on a read-only database: authenticates, writes nothing; a write that fails is logged, never the request\'s', async () => {
    const made = await store().create({ name: 'standby', scopes: ['read'] });
    await db.sql.unsafe(`ALTER DATABASE "${db.name}" SET default_transaction_read_only = on`);
    const cluster = await testCluster();
    const readOnly = connect({ socketDir: cluster.socketDir, port: cluster.port, database: db.name, max: 1 });
    try {
      const log = recordingLogger();
      const onStandby = new ApiTokens({ sql: readOnly, readOnly: true, throttle, log, now: () => clock });
      assert.equal((await onStandby.authenticate(made.token, '192.0.2.40')).name, 'standby');
      await settle();
      assert.deepEqual(log.lines.warn, []);
      const unaware = new ApiTokens({ sql: readOnly, readOnly: false, throttle, log, now: () => clock });
      assert.equal((await unaware.authenticate(made.token, '192.0.2.40')).name, 'standby');
      await settle();
      assert.match(log.lines.warn.join('\n'), new RegExp(`the last use of API token ${made.id} was not written`));
      assert.equal((await store().list())[0]!.lastUsedAt, null);
    } finally {
      await readOnly.end({ timeout: 1 });
    }
  });

  it('serves /manager/metrics to a valid metrics or admin token only; another bearer is not its to count', async () => {
    const tokens = store();
    const metrics = await tokens.create({ name: 'prom', scopes: ['metrics'] });
    const admin = await tokens.create({ name: 'admin', scopes: ['admin'] });
    const read = await tokens.create({ name: 'read', scopes: ['read'] });
    assert.equal(await tokens.allowsMetrics(`Bearer ${metrics.token}`, '192.0.2.50'), true);
    assert.equal(await tokens.allowsMetrics(`Bearer ${admin.token}`, '192.0.2.50'), true);
    assert.equal(await tokens.allowsMetrics(`Bearer ${read.token}`, '192.0.2.50'), false);
    assert.equal(await tokens.allowsMetrics('', '192.0.2.50'), false);
    for (let i = 0; i < 10; i++) assert.equal(await tokens.allowsMetrics('Bearer the-old-shared-metrics-token', '192.0.2.51'), false);
    assert.equal(gate.locked('192.0.2.51', clock), false);
    for (let i = 0; i < 6; i++) assert.equal(await tokens.allowsMetrics('Bearer apt_guess', '192.0.2.52'), false);
    assert.equal(await tokens.allowsMetrics(`Bearer ${metrics.token}`, '192.0.2.52'), false);
  });
});
