import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { INITIAL_LOGIN, LoginThrottle, loginDigest, loginStep, sessionKey, type Identity, type LoginState } from '../../src/login';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const config = { password: 'pw:ä€', domain: 'example.com' };
const challenge = () => 'c0ffee';

function login(fields: Record<string, unknown>, state: LoginState = { phase: 'challenged', challenge: 'c0ffee' }, throttled = false) {
  return loginStep(state, JSON.stringify({ mt: 'AppLogin', ...fields }), config, challenge, throttled);
}

describe('login digest', () => {
  it('follows DESIGN.md for both forms, with ":" and non-ASCII in values', () => {
    const base = { app: 'app:1', domain: 'dömain', sip: 'sip', guid: 'g', dn: 'Dn' };
    assert.equal(loginDigest({ ...base, info: null }, 'ch', 'pw'), sha('app:1:dömain:sip:g:Dn:ch:pw'));
    const info = { appobj: 'x', unicode: 'ü€' };
    assert.equal(loginDigest({ ...base, info }, 'ch', 'pw'), sha(`app:1:dömain:sip:g:Dn:${JSON.stringify(info)}:ch:pw`));
    assert.equal(sessionKey('ch', 'pw'), sha('innovaphoneAppSessionKey:ch:pw'));
  });

  it('property: a digest made with the right password logs in, any other does not', () => {
    const text = fc.string({ unit: 'binary', maxLength: 20 });
    fc.assert(
      fc.property(text, text, text, text, text, fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 8 }), { maxKeys: 3 })), text, (app, domain, sip, guid, dn, info, wrong) => {
        const identity: Identity = { app, domain, sip, guid, dn, info };
        const fields = { app, domain, sip, guid, dn, ...(info === null ? {} : { info }) };
        const good = login({ ...fields, digest: loginDigest(identity, 'c0ffee', config.password) });
        assert.equal(good.kind, 'ok');
        if (good.kind === 'ok') {
          assert.deepEqual(good.identity, JSON.parse(JSON.stringify(identity)));
          assert.deepEqual(good.reply, { mt: 'AppLoginResult', app, domain: 'example.com', ok: true });
          assert.equal(good.sessionKey, sessionKey('c0ffee', config.password));
        }
        if (wrong !== config.password) {
          assert.equal(login({ ...fields, digest: loginDigest(identity, 'c0ffee', wrong) }).kind, 'failed');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('login state machine', () => {
  it('answers AppChallenge with a fresh challenge', () => {
    const step = loginStep(INITIAL_LOGIN, '{"mt":"AppChallenge"}', config, challenge, false);
    assert.deepEqual(step, { kind: 'reply', state: { phase: 'challenged', challenge: 'c0ffee' }, reply: { mt: 'AppChallengeResult', challenge: 'c0ffee' } });
  });

  it('accepts digests in upper case too, and a login without info', () => {
    const identity: Identity = { app: 'a', domain: 'd', sip: '', guid: '', dn: '', info: null };
    assert.equal(login({ app: 'a', domain: 'd', digest: loginDigest(identity, 'c0ffee', config.password).toUpperCase() }).kind, 'ok');
  });

  it('uses a challenge once: a login without a fresh challenge fails, even with a right digest', () => {
    const identity: Identity = { app: 'a', domain: 'd', sip: '', guid: '', dn: '', info: null };
    const digest = loginDigest(identity, 'c0ffee', config.password);
    const first = login({ app: 'a', domain: 'd', digest: 'bad' });
    assert.equal(first.kind, 'failed');
    assert.deepEqual(first.kind === 'failed' && first.state, INITIAL_LOGIN, 'the failed attempt consumed the challenge');
    assert.equal(login({ app: 'a', domain: 'd', digest }, INITIAL_LOGIN).kind, 'failed');
  });

  it('refuses while the address is throttled, even with a right digest', () => {
    const identity: Identity = { app: 'a', domain: 'd', sip: '', guid: '', dn: '', info: null };
    assert.equal(login({ app: 'a', domain: 'd', digest: loginDigest(identity, 'c0ffee', config.password) }, undefined, true).kind, 'failed');
  });

  it('closes on anything else before login', () => {
    for (const text of ['hello', '[1]', '{"mt":"SendMessage"}', '{"mt":"CheckBuild","url":"x"}']) {
      assert.deepEqual(loginStep(INITIAL_LOGIN, text, config, challenge, false), { kind: 'close', code: 1008, reason: 'log in first' }, text);
    }
  });

  it('fails logins with mistyped fields', () => {
    for (const fields of [{ app: 5, digest: 'x' }, { app: 'a', info: 'text', digest: 'x' }, { app: 'a', info: [1], digest: 'x' }, { app: 'a' }]) {
      assert.equal(login(fields).kind, 'failed', JSON.stringify(fields));
    }
  });
});

describe('login throttle', () => {
  const options = { freeFailures: 3, firstLockoutMs: 1000, maxLockoutMs: 8000, forgetAfterMs: 60_000, maxAddresses: 2 };

  it('locks an address out after its free failures, doubling, capped; others are unaffected', () => {
    const throttle = new LoginThrottle(options);
    for (let i = 0; i < 2; i++) throttle.failed('10.0.0.1', 0);
    assert.equal(throttle.locked('10.0.0.1', 0), false);
    throttle.failed('10.0.0.1', 0);
    assert.equal(throttle.locked('10.0.0.1', 999), true);
    assert.equal(throttle.locked('10.0.0.1', 1000), false);
    assert.equal(throttle.locked('10.0.0.2', 0), false);
    throttle.failed('10.0.0.1', 1000); // 4th: 2 s
    assert.equal(throttle.locked('10.0.0.1', 2999), true);
    for (let i = 0; i < 5; i++) throttle.failed('10.0.0.1', 3000);
    assert.equal(throttle.locked('10.0.0.1', 3000 + 8000), false, 'capped at the maximum');
    throttle.succeeded('10.0.0.1');
    assert.equal(throttle.locked('10.0.0.1', 3001), false);
  });

  it('forgets quiet addresses and keeps a bounded table', () => {
    const throttle = new LoginThrottle(options);
    for (let i = 0; i < 3; i++) throttle.failed('a', 0);
    assert.equal(throttle.locked('a', 500), true);
    throttle.failed('b', 1);
    throttle.failed('c', 2); // evicts "a", the oldest
    assert.equal(throttle.locked('a', 500), false);
  });
});
