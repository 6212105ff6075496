// The replication watch's mail rule as data: one mail per REPLICATION_BROKEN
// that lasts 5 minutes (the seed), on a clock the test moves; no database.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sql } from 'postgres';
import { Alarms } from '../../src/alarms';
import type { Logger } from '../../src/log';
import { ReplicationWatch } from '../../src/replication';

const quiet: Logger = (() => {
  const make = (): Logger => ({ error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, child: () => make(), close: () => {} });
  return make();
})();
const MIN = 60_000;

function setUp(start = Date.parse('2026-11-30T12:00:00Z')) {
  let t = start;
  const alarms = new Alarms(() => new Date(t));
  const mails: { subject: string; text: string }[] = [];
  const make = (role: 'primary' | 'standby' = 'primary') =>
    new ReplicationWatch({ sql: null as unknown as Sql, role, alarms, mail: (m) => mails.push(m), log: quiet, now: () => t, box: 'box1', enabled: async () => false });
  return { alarms, mails, make, advance: (ms: number) => void (t += ms) };
}

describe('replication watch: the 5-minute mail', () => {
  it('mails a broken standby once, when its alarm has lasted 5 minutes', () => {
    const { alarms, mails, make, advance } = setUp();
    const watch = make();
    watch.tick();
    alarms.raise('replication:standby1.example.com', 'REPLICATION_BROKEN', 'major', 'standby standby1.example.com is not replicating since …');
    advance(5 * MIN - 1);
    watch.tick();
    assert.equal(mails.length, 0);
    advance(1);
    watch.tick();
    advance(30 * MIN);
    watch.tick();
    assert.equal(mails.length, 1);
    assert.equal(mails[0]!.subject, 'App Platform alarm: REPLICATION_BROKEN (replication:standby1.example.com) for 5 minutes');
    assert.match(mails[0]!.text, /^standby standby1\.example\.com is not replicating since …\n\nRaised 2026-11-30T12:00:00\.000Z on box1 and still active after 5 minutes/);
  });

  it('does not mail one that cleared before; the next outage has its own 5 minutes', () => {
    const { alarms, mails, make, advance } = setUp();
    const watch = make();
    watch.tick();
    alarms.raise('replication', 'REPLICATION_BROKEN', 'major', 'this standby receives no WAL');
    advance(4 * MIN);
    watch.tick();
    alarms.clear('replication', 'REPLICATION_BROKEN');
    advance(4 * MIN);
    watch.tick();
    alarms.raise('replication', 'REPLICATION_BROKEN', 'major', 'this standby receives no WAL');
    advance(4 * MIN);
    watch.tick();
    assert.equal(mails.length, 0);
    advance(MIN);
    watch.tick();
    assert.equal(mails.length, 1);
  });

  it('takes an alarm older than 5 minutes at its first look as mailed before a restart; mails nothing but REPLICATION_BROKEN', () => {
    const { alarms, mails, make, advance } = setUp();
    alarms.raise('replication:a.example.com', 'REPLICATION_BROKEN', 'major', 'old');
    alarms.raise('replication', 'REPLICATION_WAL_RETAINED', 'warning', 'much WAL');
    alarms.raise('disk', 'DISK_WARNING', 'major', 'full');
    advance(20 * MIN);
    const watch = make();
    watch.tick();
    alarms.raise('replication:b.example.com', 'REPLICATION_BROKEN', 'major', 'new');
    advance(5 * MIN);
    watch.tick();
    watch.tick();
    assert.deepEqual(mails.map((m) => m.subject), ['App Platform alarm: REPLICATION_BROKEN (replication:b.example.com) for 5 minutes']);
  });

  it('clears at its start the alarms of the role the box had before a switch, and only those', async () => {
    const { alarms, make } = setUp();
    alarms.raise('replication:a.example.com', 'REPLICATION_BROKEN', 'major', 'a primary\'s standby');
    alarms.raise('replication', 'REPLICATION_WAL_RETAINED', 'warning', 'a primary\'s WAL');
    alarms.raise('disk', 'DISK_WARNING', 'major', 'full');
    const asStandby = make('standby');
    asStandby.start(3_600_000);
    await asStandby.stop();
    assert.deepEqual(alarms.active().map((a) => `${a.source} ${a.code}`), ['disk DISK_WARNING'], 'a standby has no standbys of its own');

    alarms.raise('replication', 'REPLICATION_BROKEN', 'major', 'this standby receives no WAL');
    const promoted = make('primary');
    promoted.start(3_600_000);
    await promoted.stop();
    assert.deepEqual(alarms.active().map((a) => `${a.source} ${a.code}`), ['disk DISK_WARNING'], 'a promoted box follows no primary');
  });
});
