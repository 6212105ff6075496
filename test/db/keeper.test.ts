// The keeper's decisions with stand-in clusters (the real cluster is in
// cluster.test.ts and test/e2e/database.test.ts): backoff, giving up, trying
// again by hand, and an attached server going and coming back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keepAttached, keepManaged, type Cluster, type ClusterExit, type DatabaseHealth } from '../../src/db';
import type { Logger } from '../../src/log';

const lines: string[] = [];
const log: Logger = {
  error: (m) => void lines.push(`error ${m}`),
  warn: (m) => void lines.push(`warn ${m}`),
  info: (m) => void lines.push(`info ${m}`),
  debug: () => {},
  child: () => log,
  close: () => {},
};

interface FakeCluster extends Cluster {
  die(exit: ClusterExit): void;
}

let nextPid = 100;
function fakeCluster(): FakeCluster {
  let die: (exit: ClusterExit) => void = () => {};
  const exited = new Promise<ClusterExit>((resolve) => (die = resolve));
  return { pid: nextPid++, exited, tail: () => 'FATAL:  something', stop: async () => die({ code: 0, signal: null }), die: (exit) => die(exit) };
}

/** Collects state changes and resolves when one matches. */
function changes(keeper: { onChange(l: (h: DatabaseHealth) => void): void }) {
  const seen: DatabaseHealth[] = [];
  const waiters: { test: (h: DatabaseHealth) => boolean; resolve: (h: DatabaseHealth) => void }[] = [];
  keeper.onChange((h) => {
    seen.push(h);
    for (const w of waiters.splice(0)) (w.test(h) ? w.resolve(h) : waiters.push(w));
  });
  return { seen, next: (test: (h: DatabaseHealth) => boolean) => new Promise<DatabaseHealth>((resolve) => waiters.push({ test, resolve })) };
}

const policy = { restartDelayMs: 20, restartLimit: 3, restartWindowMs: 60_000, checkIntervalMs: 1000 };

describe('keeper (managed)', () => {
  it('restarts a dead postmaster after the delay, says why, and counts the restart', async () => {
    const first = fakeCluster();
    const second = fakeCluster();
    const keeper = keepManaged(first, async () => second, policy, log);
    const seen = changes(keeper);
    const t0 = Date.now();
    first.die({ code: null, signal: 'SIGKILL' });
    const down = await seen.next((h) => h.state === 'restarting');
    assert.match(down.reason!, new RegExp(`the postmaster \\(pid ${first.pid}\\) was killed by signal SIGKILL`));
    assert.ok(down.downSince);
    const up = await seen.next((h) => h.state === 'up');
    assert.ok(Date.now() - t0 >= 20, 'waited the restart delay');
    assert.deepEqual({ restarts: up.restarts, pid: up.pid, downSince: up.downSince }, { restarts: 1, pid: second.pid, downSince: null });
    assert.equal(keeper.cluster, second);
    assert.ok(lines.some((l) => l.includes(`PostgreSQL died: the postmaster (pid ${first.pid}) was killed by signal SIGKILL; its last lines:\nFATAL:  something`)));
    await keeper.stop();
  });

  it('gives up after the limit of deaths, then starts again only when asked', async () => {
    const first = fakeCluster();
    let attempts = 0;
    let fixed = false;
    const good = fakeCluster();
    const keeper = keepManaged(
      first,
      async () => {
        attempts++;
        if (!fixed) throw new Error('PostgreSQL did not start: postgres exited with code 1\nFATAL:  invalid value');
        return good;
      },
      policy,
      log,
    );
    const seen = changes(keeper);
    first.die({ code: 1, signal: null });
    const gaveUp = await seen.next((h) => h.state === 'given-up');
    assert.equal(attempts, 2); // death, failed start, failed start = 3 deaths
    // A failed start is heard as a change (the alarm's text follows it).
    assert.ok(seen.seen.some((h) => h.state === 'restarting' && /^PostgreSQL did not start: postgres exited with code 1$/.test(h.reason ?? '')), JSON.stringify(seen.seen));
    assert.match(gaveUp.reason!, /died 3 times within 60 s \(last: PostgreSQL did not start: postgres exited with code 1\); given up: .*ap ctl db start/);
    assert.equal(keeper.health().state, 'given-up');
    fixed = true;
    const back = seen.next((h) => h.state === 'up');
    const afterStart = await keeper.start();
    assert.equal(afterStart.state, 'restarting');
    const up = await back;
    assert.equal(attempts, 3);
    assert.equal(up.pid, good.pid);
    await keeper.stop();
  });

  it('restarts on request (a new listen address): listeners hear it go and come back, and it counts as no death', async () => {
    const first = fakeCluster();
    const second = fakeCluster();
    const third = fakeCluster();
    const spawns = [second, third];
    // Two deaths give up: were the restart one, the death below would be the second.
    const keeper = keepManaged(first, async () => spawns.shift()!, { ...policy, restartLimit: 2 }, log);
    const seen = changes(keeper);
    const before = lines.length;
    const up = await keeper.restart('replication primary');
    assert.deepEqual({ state: up.state, pid: up.pid, restarts: up.restarts, downSince: up.downSince }, { state: 'up', pid: second.pid, restarts: 1, downSince: null });
    assert.equal(keeper.cluster, second);
    assert.ok(seen.seen.some((h) => h.state !== 'up' && h.reason === 'restarting to apply replication primary'), JSON.stringify(seen.seen));
    assert.ok(!lines.slice(before).some((l) => l.startsWith('error')), lines.slice(before).join('\n'));
    second.die({ code: null, signal: 'SIGKILL' });
    const back = await seen.next((h) => h.state === 'up' || h.state === 'given-up');
    assert.equal(back.state, 'up');
    assert.equal(back.pid, third.pid);
    await keeper.stop();
  });

  it('refuses a restart while the cluster is not up, and an attached one always', async () => {
    const first = fakeCluster();
    const keeper = keepManaged(first, async () => fakeCluster(), { ...policy, restartDelayMs: 200 }, log);
    const seen = changes(keeper);
    first.die({ code: 1, signal: null });
    await seen.next((h) => h.state === 'restarting');
    await assert.rejects(keeper.restart('replication primary'), { code: 'DB_UNAVAILABLE' });
    await seen.next((h) => h.state === 'up');
    await keeper.stop();
    const attached = keepAttached(async () => null, policy, log);
    await assert.rejects(attached.restart('replication primary'), { code: 'UNSUPPORTED' });
    await attached.stop();
  });

  it('does not restart what it was told to stop', async () => {
    const first = fakeCluster();
    let spawned = 0;
    const keeper = keepManaged(first, async () => (spawned++, fakeCluster()), policy, log);
    await keeper.stop();
    await first.stop(1000);
    await new Promise((resolve) => setTimeout(resolve, policy.restartDelayMs * 3));
    assert.equal(spawned, 0);
    assert.equal(keeper.health().state, 'up');
  });
});

describe('keeper (attached)', () => {
  it('is down while the check fails and up when it answers again, told once each way', async () => {
    let failure: string | null = null;
    const keeper = keepAttached(async () => failure, policy, log);
    const seen = changes(keeper);
    assert.equal((await keeper.start()).state, 'up');
    failure = 'connect ECONNREFUSED /run/postgresql/.s.PGSQL.5432';
    const down = await keeper.start();
    assert.deepEqual({ state: down.state, reason: down.reason }, { state: 'down', reason: failure });
    await keeper.start();
    failure = null;
    assert.equal((await keeper.start()).state, 'up');
    assert.deepEqual(seen.seen.map((h) => h.state), ['down', 'up']);
    await keeper.stop();
  });
});
