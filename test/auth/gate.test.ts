// Password checks counted as they arrive and bounded in number: a flood of
// concurrent guesses is throttled like sequential ones, and a login from
// another address is checked after at most a few of the flood's, not after all.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inlineHasher, ManagerAuth, type PasswordHasher } from '../../src/auth';
import type { Settings } from '../../src/db';
import { ApError, InvalidField } from '../../src/errors';
import type { Logger } from '../../src/log';

function memory(): Settings {
  const m = new Map<string, string>();
  return { get: async (n) => m.get(n) ?? null, set: async (n, v) => void m.set(n, v), setMany: async (values) => void Object.entries(values).forEach(([n, v]) => m.set(n, v)), delete: async (n) => void m.delete(n) };
}

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log: Logger & { lines: string[] } = {
    lines,
    error: (m) => lines.push(m),
    warn: (m) => lines.push(m),
    info: (m) => lines.push(m),
    debug: () => {},
    child: () => log,
    close: () => {},
  };
  return log;
}

/**
 * Real argon2id, run one at a time as the worker thread does (a FIFO queue);
 * it records whose password each check was, in the order they ran.
 */
function serialHasher(): PasswordHasher & { order: string[] } {
  const real = inlineHasher();
  const order: string[] = [];
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => {});
    return run;
  };
  return {
    order,
    hash: (password) => serial(() => real.hash(password)),
    verify: (hash, password) =>
      serial(() => {
        order.push(password);
        return real.verify(hash, password);
      }),
    stop: async () => {},
  };
}

const outcome = (p: Promise<unknown>) => p.then(() => 'ok', (err: ApError) => err.code);

describe('Manager login gate', () => {
  for (const flood of [100, 300]) {
    it(`throttles ${flood} concurrent guesses from one address and checks another address's login after at most two of them`, async () => {
      const hasher = serialHasher();
      const auth = new ManagerAuth({ settings: memory(), hasher, log: recorder() });
      await auth.start();
      const guesses = Array.from({ length: flood }, (_, i) => outcome(auth.login(`guess-${i}`, '10.9.0.1')));
      const started = Date.now();
      const legit = await auth.login('pwd', '10.9.0.2');
      const legitMs = Date.now() - started;
      const results = await Promise.all(guesses);
      const counts = results.reduce<Record<string, number>>((c, r) => ((c[r] = (c[r] ?? 0) + 1), c), {});
      // Only the first two were checked at all (two in flight per address); every other was refused at once.
      assert.deepEqual(counts, { LOGIN_FAILED: 2, TOO_MANY_ATTEMPTS: flood - 2 });
      assert.equal(hasher.order.indexOf('pwd'), 2, `checks before the legitimate one: ${hasher.order.slice(0, 5).join(', ')}`);
      assert.ok(legit.token);
      console.log(`${flood} concurrent guesses: ${counts.TOO_MANY_ATTEMPTS} refused at once; the login from elsewhere took ${legitMs} ms (${hasher.order.length} hashes in all)`);
    });
  }

  it('counts concurrent attempts as they arrive: the sixth is refused even while the first five are still being checked', async () => {
    const hasher = serialHasher();
    const auth = new ManagerAuth({ settings: memory(), hasher, log: recorder(), gate: { perAddress: 100, total: 100 } });
    await auth.start();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(auth.login(`guess-${i}`, '10.9.1.1'))));
    assert.equal(results.filter((r) => r === 'LOGIN_FAILED').length, 5);
    assert.equal(results.filter((r) => r === 'TOO_MANY_ATTEMPTS').length, 15);
    assert.equal(hasher.order.length, 5);
  });

  it('answers BUSY at once beyond the overall bound, and takes logins again when the checks are done', async () => {
    const hasher = serialHasher();
    const auth = new ManagerAuth({ settings: memory(), hasher, log: recorder(), gate: { perAddress: 2, total: 4 } });
    await auth.start();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => outcome(auth.login('wrong-one', `10.9.2.${i}`))));
    assert.deepEqual(results, ['LOGIN_FAILED', 'LOGIN_FAILED', 'LOGIN_FAILED', 'LOGIN_FAILED', 'BUSY', 'BUSY']);
    assert.equal(await outcome(auth.login('pwd', '10.9.2.9')), 'ok');
  });

  it('counts a wrong current password of a password change with the logins of that address, and logs it', async () => {
    const log = recorder();
    const auth = new ManagerAuth({ settings: memory(), hasher: inlineHasher(), log });
    await auth.start();
    const { token } = await auth.login('pwd', '10.9.3.1');
    const tries: string[] = [];
    for (let i = 0; i < 6; i++) {
      tries.push(await auth.changePassword(token, `wrong-${i}`, 'a-long-new-pass', '10.9.3.2').then(() => 'ok', (e: ApError) => (e instanceof InvalidField ? `${e.code}:${e.field}` : e.code)));
    }
    assert.deepEqual(tries, [...Array(5).fill('INVALID_FIELD:current'), 'TOO_MANY_ATTEMPTS']);
    assert.equal(await outcome(auth.login('pwd', '10.9.3.2')), 'TOO_MANY_ATTEMPTS'); // the same address, throttled for logins too
    assert.ok(log.lines.some((l) => /password change from 10\.9\.3\.2 refused: the current password is wrong/.test(l)), log.lines.join('\n'));
    assert.ok(log.lines.some((l) => /password change from 10\.9\.3\.2 refused: too many/.test(l)), log.lines.join('\n'));
  });
});
