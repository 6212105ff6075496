// API tokens' text, hash and scope rules, as data.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { bearerToken, mintToken, parseToken, scopeRefusal, secretHash, secretMatches, SCOPES } from '../../src/tokens';
import { readsMetrics } from '../../src/tokens/scopes';

describe('token text', () => {
  it('mints apt_<16 hex>_<43 base64url> whose secret hashes to what is stored, never twice the same', () => {
    const a = mintToken();
    const b = mintToken();
    assert.match(a.text, /^apt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a.text, b.text);
    assert.notEqual(a.id, b.id);
    const parsed = parseToken(a.text);
    assert.equal(parsed?.id, a.id);
    assert.equal(Buffer.from(parsed!.secret, 'base64url').length, 32);
    assert.deepEqual(a.hash, createHash('sha256').update(parsed!.secret).digest());
    assert.ok(secretMatches(parsed!.secret, a.hash));
    assert.ok(!secretMatches(parseToken(b.text)!.secret, a.hash));
  });

  it('parses only the exact form: the id and the secret, split unambiguously though base64url has "_"', () => {
    const secret = `${'_'.repeat(20)}${'A'.repeat(23)}`;
    assert.deepEqual(parseToken(`apt_0123456789abcdef_${secret}`), { id: '0123456789abcdef', secret });
    for (const bad of ['', 'apt_', 'apt_0123456789abcdef', `apt_0123456789ABCDEF_${secret}`, `apt_0123456789abcde_${secret}`, `apt_0123456789abcdef_${secret}x`, `apt_0123456789abcdef_${secret.slice(1)}`, ` apt_0123456789abcdef_${secret}`, `xpt_0123456789abcdef_${secret}`, `apt_0123456789abcdef_${secret.slice(1)}=`]) {
      assert.equal(parseToken(bad), null, bad);
    }
  });

  it('compares a hash of another length as a mismatch, not a throw', () => {
    assert.equal(secretMatches('x', Buffer.alloc(16)), false);
    assert.equal(secretMatches('x', secretHash('x')), true);
  });

  it('reads the Bearer scheme only: other schemes are not ours, an empty bearer is malformed', () => {
    assert.equal(bearerToken(''), null);
    assert.equal(bearerToken('Basic dXNlcjpwdw=='), null);
    assert.equal(bearerToken('Bearerx abc'), null);
    assert.equal(bearerToken('Bearer abc'), 'abc');
    assert.equal(bearerToken('bearer   abc  '), 'abc');
    assert.equal(bearerToken('Bearer'), '');
    assert.equal(bearerToken('Bearer '), '');
  });
});

describe('scopes', () => {
  const allowed = (scopes: (typeof SCOPES)[number][], method: string, path: string) => scopeRefusal(scopes, method, path) === null;

  it('admin: the whole API, but never the session routes nor creating or revoking tokens', () => {
    assert.ok(allowed(['admin'], 'GET', '/services'));
    assert.ok(allowed(['admin'], 'POST', '/instances'));
    assert.ok(allowed(['admin'], 'DELETE', '/services/echo'));
    assert.ok(allowed(['admin'], 'GET', '/tokens'));
    assert.ok(allowed(['admin'], 'POST', '/installer/apps'));
    for (const [method, path] of [['POST', '/session'], ['GET', '/session'], ['DELETE', '/session'], ['POST', '/password'], ['GET', '/events'], ['POST', '/tokens'], ['DELETE', '/tokens/0123456789abcdef'], ['POST', '//tokens']]) {
      assert.match(scopeRefusal(['admin', 'read', 'installer', 'metrics'], method!, path!) ?? 'allowed', /cannot/, `${method} ${path}`);
    }
  });

  it('read: GET only, and names the scope a change needs', () => {
    assert.ok(allowed(['read'], 'GET', '/services'));
    assert.ok(allowed(['read'], 'GET', '/installer/apps'));
    assert.equal(scopeRefusal(['read'], 'POST', '/services/echo/stop'), 'this token (scopes read) may not POST /services/echo/stop: that needs the admin scope');
  });

  it('read: not a route whose answer holds secrets (passwords, a whole database); admin and, below /installer, installer may', () => {
    assert.equal(
      scopeRefusal(['read'], 'GET', '/instances', true),
      'this token (scopes read) may not GET /instances: that needs the admin scope (its answer holds passwords or a whole database, which the read scope does not reach)',
    );
    assert.ok(allowed(['read'], 'GET', '/instances'), 'a route not marked secret');
    assert.equal(scopeRefusal(['admin'], 'GET', '/replication', true), null);
    assert.equal(scopeRefusal(['installer'], 'GET', '/installer/jobs/1', true), null);
    assert.match(scopeRefusal(['read'], 'GET', '/installer/jobs/1', true)!, /needs the installer scope \(or admin\)$/);
  });

  it('installer: /installer and below only, any method; matched by segments as the route table does', () => {
    for (const path of ['/installer', '/installer/', '/installer/apps/x', '//installer/apps']) assert.ok(allowed(['installer'], 'POST', path), path);
    for (const path of ['/services', '/installers', '/installerx/a', '/x/installer', '/']) assert.ok(!allowed(['installer'], 'GET', path), path);
    assert.equal(scopeRefusal(['installer'], 'GET', '/services'), 'this token (scopes installer) may not GET /services: that needs the read scope (or admin)');
    assert.match(scopeRefusal(['metrics'], 'GET', '/installer/x')!, /needs the installer scope \(or admin\)$/);
  });

  it('metrics: nothing of the API, only /manager/metrics (with admin)', () => {
    assert.ok(!allowed(['metrics'], 'GET', '/metrics'));
    assert.ok(!allowed(['metrics'], 'GET', '/services'));
    assert.ok(readsMetrics(['metrics']));
    assert.ok(readsMetrics(['admin']));
    assert.ok(!readsMetrics(['read', 'installer']));
  });

  it('joins scopes: read with installer may read everything and change the installer only', () => {
    assert.ok(allowed(['read', 'installer'], 'GET', '/services'));
    assert.ok(allowed(['read', 'installer'], 'PUT', '/installer/x'));
    assert.ok(!allowed(['read', 'installer'], 'PUT', '/settings/x'));
  });
});
