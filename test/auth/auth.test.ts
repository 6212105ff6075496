import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkNewPassword, inlineHasher, ManagerAuth, MAX_SESSIONS, type PasswordHasher } from '../../src/auth';
import type { Settings } from '../../src/db';
import { InvalidField } from '../../src/errors';
import { createLogger } from '../../src/log';

const log = createLogger({ level: 'error', file: null });

function memory(): Settings {
  const m = new Map<string, string>();
  return { get: async (n) => m.get(n) ?? null, set: async (n, v) => void m.set(n, v), setMany: async (values) => void Object.entries(values).forEach(([n, v]) => m.set(n, v)), delete: async (n) => void m.delete(n) };
}

/** Argon2id for real, at the cost the Manager uses. */
const hasher: PasswordHasher = inlineHasher();

describe('Manager password and sessions', () => {
  it('stores only an argon2id hash, starting from the default pwd', async () => {
    const settings = memory();
    const auth = new ManagerAuth({ settings, hasher, log });
    await auth.start();
    const stored = (await settings.get('managerPassword'))!;
    assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(stored.includes('pwd'), false);
    const { session } = await auth.login('pwd', '10.0.0.1');
    assert.equal(session.mustChangePassword, true);
    await auth.start(); // a restart does not reset it
    assert.equal(await settings.get('managerPassword'), stored);
  });

  it('ends sessions after the idle time and after the absolute time', async () => {
    let now = 1_000_000;
    const auth = new ManagerAuth({ settings: memory(), hasher, log, now: () => now, idleMs: 1000, absoluteMs: 5000 });
    await auth.start();
    const { token } = await auth.login('pwd', '10.0.0.2');
    now += 900;
    assert.ok(auth.session(token)); // active: the idle clock restarts
    now += 900;
    assert.ok(auth.session(token));
    now += 1100;
    assert.equal(auth.session(token), null); // idle too long
    const second = await auth.login('pwd', '10.0.0.2');
    for (let i = 0; i < 6; i++) {
      now += 900;
      if (i < 5) assert.ok(auth.session(second.token), `at ${i}`);
    }
    assert.equal(auth.session(second.token), null); // older than 5 s however active
  });

  it('changes the password only with the current one; other sessions end', async () => {
    const auth = new ManagerAuth({ settings: memory(), hasher, log });
    await auth.start();
    const a = await auth.login('pwd', '10.0.0.3');
    const b = await auth.login('pwd', '10.0.0.4');
    await assert.rejects(auth.changePassword(a.token, 'wrong', 'a-long-new-pass'), (e: InvalidField) => e.field === 'current');
    await auth.changePassword(a.token, 'pwd', 'a-long-new-pass');
    assert.ok(auth.session(a.token));
    assert.equal(auth.session(b.token), null);
    await assert.rejects(auth.login('pwd', '10.0.0.5'), /wrong password/);
    const c = await auth.login('a-long-new-pass', '10.0.0.5');
    assert.equal(c.session.mustChangePassword, false);
    assert.equal(auth.csrfMatches(c.session, c.session.csrf), true);
    assert.equal(auth.csrfMatches(c.session, 'x'), false);
  });

  it('takes long passwords whole and refuses short, common and control-character ones', () => {
    const long = 'x'.repeat(500) + 'y';
    assert.equal(checkNewPassword(long), long);
    for (const bad of ['short', 'password1', 'PASSWORD1', 'pwd', 'with\nnewline', 'x'.repeat(1025)]) assert.throws(() => checkNewPassword(bad), InvalidField, bad);
  });

  it('keeps at most MAX_SESSIONS: a script logging in every minute without logging out does not fill the memory', async () => {
    // The hash is not what this is about: a plain one keeps 2,000 logins quick.
    const plain: PasswordHasher = { hash: async (p) => `plain:${p}`, verify: async (h, p) => h === `plain:${p}`, stop: async () => {} };
    let now = 1_000_000;
    const auth = new ManagerAuth({ settings: memory(), hasher: plain, log, now: () => now, idleMs: 30 * 60_000 });
    await auth.start();
    const kept = await auth.login('pwd', '10.0.1.1');
    const tokens: string[] = [];
    for (let i = 0; i < 2 * MAX_SESSIONS; i++) {
      now += 100;
      tokens.push((await auth.login('pwd', `10.0.${2 + (i >> 8)}.${i & 255}`)).token);
      // One session in use all along stays (the least recently used go first).
      if (i % 100 === 0) assert.ok(auth.session(kept.token), `the session in use ended after ${i} logins`);
    }
    assert.equal(auth.count, MAX_SESSIONS);
    assert.ok(auth.session(kept.token));
    assert.ok(auth.session(tokens.at(-1)!));
    assert.equal(auth.session(tokens[0]!), null, 'the oldest unused session was kept');
    // A minute a login for an hour: the idle ones are gone by the next login, not only when looked up.
    now += 31 * 60_000;
    await auth.login('pwd', '10.0.9.9');
    assert.equal(auth.count, 1);
  });
});
