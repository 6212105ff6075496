// Watching the replication against real clusters: the bundled supervisor as
// primary (its own watch behind GET /replication, the alarms and
// /manager/metrics), a raw standby copied from it with pg_basebackup -R
// (test/harness/pgstandby.ts), and a watch made here on both sides with a
// clock the test moves, so the 5-minute mail rule is checked without waiting.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Sql } from 'postgres';
import { SMTPServer } from 'smtp-server';
import { Alarms } from '../../src/alarms';
import { connect } from '../../src/db';
import type { Logger } from '../../src/log';
import { Mailer } from '../../src/mail';
import { ReplicationWatch, type WatchOptions } from '../../src/replication';
import { fetchRaw, until } from '../harness/http';
import { makeRawStandby, type RawStandby } from '../harness/pgstandby';
import { ensureStopped, readyPorts, runAp, runApSync, type Run } from '../harness/supervisor';
import { rootWithConfig, workspace } from '../harness/workspace';
import { freePort } from './clients';

const quiet: Logger = (() => {
  const make = (): Logger => ({ error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, child: () => make(), close: () => {} });
  return make();
})();

interface Standby {
  name: string;
  password: string;
  role: string;
  slot: string;
  connected: boolean;
  state: string;
  lagBytes: number | null;
  lagSeconds: number | null;
  retainedBytes: number | null;
  since: string | null;
}

let dir: string;
let root: string;
let run: Run;
let pgPort: number;
let managerPort: number;
let primarySql: Sql;
let raw: RawStandby | undefined;
let smtp: SMTPServer;
const mails: string[] = [];
// The watch's clock (and its alarms'): real time plus what the test adds.
let skew = 0;
const now = () => Date.now() + skew;

const ctl = (...args: string[]) => {
  const result = runApSync(['ctl', ...args, '--json', '--root', root]);
  assert.equal(result.status, 0, `ap ctl ${args.join(' ')}: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout);
};
const standbys = (): Standby[] => ctl('replication', 'show').standbys;

function watch(extra: Partial<WatchOptions> & Pick<WatchOptions, 'sql' | 'role' | 'alarms'>): { watch: ReplicationWatch; mailer: Mailer } {
  const mailer = new Mailer({
    config: async () => ({
      smtp: { server: '127.0.0.1', port: (smtp.server.address() as AddressInfo).port, security: 'none', user: null, password: null, sender: 'ap@box.test', insecureTls: false },
      to: 'admin@example.test',
    }),
    log: quiet,
  });
  return { watch: new ReplicationWatch({ mail: (m) => mailer.send(m), log: quiet, now, ...extra }), mailer };
}

describe('replication: watching', () => {
  let first: Standby;

  before(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      onData(stream, _session, callback) {
        let body = '';
        stream.on('data', (c: Buffer) => (body += c.toString()));
        stream.on('end', () => {
          mails.push(body);
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    dir = await workspace('ap-repl-watch-');
    root = await rootWithConfig(dir, {});
    pgPort = await freePort();
    run = runAp(['serve', '--root', root, '--http-port', '0', '--https-port', '0', '--reserve-size', '0', '--pg-listen', '127.0.0.1', '--db-port', String(pgPort)]);
    managerPort = (await readyPorts(run)).manager;
    ctl('replication', 'mode', 'primary');
    first = ctl('replication', 'add', 'standby1.example.com');
    const { db } = ctl('status') as { db: { socketDir: string; port: number } };
    primarySql = connect({ socketDir: db.socketDir, port: db.port, database: 'manager', max: 2 });
    await primarySql`CREATE TABLE IF NOT EXISTS watch_test (n integer)`;
  });

  after(async () => {
    await raw?.stop();
    await primarySql?.end({ timeout: 1 });
    if (run) await ensureStopped(run);
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('a streaming standby: connected, with its lag, and no alarm; the Manager API and /manager/metrics say so too', async () => {
    const alarms = new Alarms(() => new Date(now()));
    const { watch: w } = watch({ sql: primarySql, role: 'primary', alarms });
    assert.equal(standbys()[0]!.state, 'waiting', 'a new standby not connected yet is waiting, not broken');
    raw = await makeRawStandby(dir, pgPort, first, await freePort());
    const seen = await until('the standby streams', async () => {
      const view = await w.check();
      // Its first report of what it replayed follows the connection.
      return view.standbys[0]?.state === 'streaming' && view.standbys[0].replayLsn !== null ? view.standbys[0] : undefined;
    }).catch((err) => {
      throw new Error(`${(err as Error).message}; the standby said:\n${raw!.tail()}`);
    });
    assert.equal(seen.name, 'standby1.example.com');
    assert.equal(seen.connected, true);
    assert.equal(typeof seen.lagBytes, 'number');
    assert.equal(typeof seen.lagSeconds, 'number');
    assert.equal(typeof seen.retainedBytes, 'number');
    assert.ok(seen.replayLsn !== null && seen.sentLsn !== null);
    assert.deepEqual(alarms.active(), []);

    const shown = standbys()[0]!;
    assert.equal(shown.connected, true);
    assert.equal(shown.state, 'streaming');
    assert.equal(typeof shown.lagBytes, 'number');
    assert.ok(shown.since !== null && Number.isFinite(Date.parse(shown.since)));
    // GET /replication looked just now, and the metrics hold what it saw (no timestamps: Prometheus stamps a scrape).
    const metrics = (await fetchRaw(`http://127.0.0.1:${managerPort}/manager/metrics`)).body.toString();
    assert.match(metrics, /^ap_replication_standby_connected\{standby="standby1\.example\.com"\} 1$/m);
    assert.match(metrics, /^ap_replication_lag_bytes\{standby="standby1\.example\.com"\} \d+$/m);
    assert.match(metrics, /^ap_replication_lag_seconds\{standby="standby1\.example\.com"\} [\d.e+-]+$/m);
    assert.match(metrics, /^ap_replication_retained_bytes\{standby="standby1\.example\.com"\} \d+$/m);
    assert.match(metrics, /^# HELP ap_replication_standby_connected /m);
  });

  it('a stopped standby: REPLICATION_BROKEN at the next check, one mail once it lasted 5 minutes; back, it catches up from its slot and the alarm clears', async () => {
    const alarms = new Alarms(() => new Date(now()));
    const { watch: w, mailer } = watch({ sql: primarySql, role: 'primary', alarms });
    assert.equal((await w.check()).standbys[0]!.connected, true);
    const pid = raw!.pid!;
    await raw!.stop();
    assert.throws(() => process.kill(pid, 0), 'the standby is stopped');
    await until('the walsender is gone', async () => ((await w.check()).standbys[0]!.connected ? undefined : true));
    const [alarm, ...more] = alarms.active();
    assert.equal(more.length, 0);
    assert.equal(alarm!.code, 'REPLICATION_BROKEN');
    assert.equal(alarm!.source, 'replication:standby1.example.com');
    assert.equal(alarm!.severity, 'major');
    assert.match(alarm!.text, /^standby standby1\.example\.com is not replicating since \d{4}-\d\d-\d\dT[\d:.]+Z: its replication slot is not in use/);
    assert.equal(w.latest().standbys[0]!.state, 'disconnected');
    // The supervisor's own watch sees it too (GET /replication looks first).
    assert.equal(standbys()[0]!.connected, false);
    const supervisorAlarms = ctl('alarms').active as { code: string; source: string }[];
    assert.ok(supervisorAlarms.some((a) => a.code === 'REPLICATION_BROKEN' && a.source === 'replication:standby1.example.com'), JSON.stringify(supervisorAlarms));

    // Rows written while it is away.
    await primarySql`INSERT INTO watch_test SELECT generate_series(1, 500)`;

    skew += 4 * 60_000;
    w.tick();
    assert.equal(mailer.pending, 0, 'no mail before 5 minutes');
    skew += 61_000;
    await w.check(); // the check runs the mail rule too
    await until('the mail', async () => (mails.length > 0 ? true : undefined));
    skew += 10 * 60_000;
    w.tick();
    await w.check();
    assert.equal(mailer.pending, 0);
    assert.equal(mails.length, 1, 'exactly one mail');
    // Unfolded header lines, quoted-printable soft breaks joined.
    const mail = mails[0]!.replace(/\r\n(?=[ \t])/g, '').replace(/=\r\n/g, '');
    assert.match(mail, /Subject: App Platform alarm: REPLICATION_BROKEN \(replication:standby1\.example\.com\)/);
    assert.match(mail, /standby standby1\.example\.com is not replicating since/);
    mailer.stop();

    const dataDir = raw!.dataDir;
    await raw!.start();
    assert.equal(raw!.dataDir, dataDir, 'the same copy, no new base backup');
    const standbySql = raw!.connect('manager');
    try {
      const count = await until('the rows on the standby', async () => {
        const [row] = await standbySql<{ n: number }[]>`SELECT count(*)::int AS n FROM watch_test`;
        return row!.n === 500 ? row!.n : undefined;
      });
      assert.equal(count, 500);
    } finally {
      await standbySql.end({ timeout: 1 });
    }
    await until('streaming again', async () => ((await w.check()).standbys[0]!.connected ? true : undefined));
    assert.deepEqual(alarms.active(), []);
    assert.equal(alarms.history()[0]!.code, 'REPLICATION_BROKEN');
  });

  it('a standby watches its primary: receiving, then broken while the primary refuses it, and well again', async () => {
    const standbySql = raw!.connect('postgres');
    const alarms = new Alarms(() => new Date(now()));
    const { watch: w, mailer } = watch({ sql: standbySql, role: 'standby', alarms, startGraceMs: 0 });
    try {
      const receiving = await until('receiving', async () => {
        const view = await w.check();
        return view.receiver?.receiving ? view.receiver : undefined;
      });
      assert.equal(receiving.status, 'streaming');
      assert.equal(receiving.senderHost, '127.0.0.1');
      assert.equal(receiving.senderPort, pgPort);
      assert.equal(typeof receiving.lagBytes, 'number');
      assert.equal(typeof receiving.lagSeconds, 'number');
      assert.ok(receiving.receiveLsn !== null && receiving.replayLsn !== null);
      assert.deepEqual(alarms.active(), []);

      // The primary refuses the standby's role and ends its walsender: the receiver cannot come back.
      await primarySql.unsafe(`ALTER ROLE ${first.role} NOLOGIN`);
      await primarySql`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = ${first.slot} AND active_pid IS NOT NULL`;
      const broken = await until('broken', async () => {
        const view = await w.check();
        return view.receiver?.receiving === false ? view.receiver : undefined;
      });
      assert.notEqual(broken.status, 'streaming');
      const [alarm, ...more] = alarms.active();
      assert.equal(more.length, 0);
      assert.equal(alarm!.source, 'replication');
      assert.equal(alarm!.code, 'REPLICATION_BROKEN');
      assert.match(alarm!.text, /^this standby receives no WAL from the primary \(127\.0\.0\.1 port \d+\) since /);
      // A watch just started gives the WAL receiver its time before calling the link broken.
      const starting = watch({ sql: standbySql, role: 'standby', alarms: new Alarms(() => new Date(now())) });
      starting.mailer.stop();
      const early = (await starting.watch.check()).receiver!;
      assert.equal(early.receiving, false);
      assert.equal(early.status, 'waiting');
      assert.deepEqual(starting.watch.latest().receiver?.status, 'waiting');

      await primarySql.unsafe(`ALTER ROLE ${first.role} LOGIN`);
      await until('receiving again', async () => ((await w.check()).receiver?.receiving ? true : undefined), 60_000);
      assert.deepEqual(alarms.active(), []);
    } finally {
      await primarySql.unsafe(`ALTER ROLE ${first.role} LOGIN`);
      mailer.stop();
      await standbySql.end({ timeout: 1 });
    }
  });

  it('a new standby that never connected is waiting for 2 minutes, then broken; removed, its alarm goes', async () => {
    const alarms = new Alarms(() => new Date(now()));
    const { watch: w, mailer } = watch({ sql: primarySql, role: 'primary', alarms });
    mailer.stop();
    ctl('replication', 'add', 'standby2.example.com');
    const skewBefore = skew;
    skew = 0;
    try {
      const fresh = (await w.check()).standbys.find((s) => s.name === 'standby2.example.com')!;
      assert.equal(fresh.state, 'waiting');
      assert.deepEqual(alarms.active(), []);
      skew = 121_000;
      const late = (await w.check()).standbys.find((s) => s.name === 'standby2.example.com')!;
      assert.equal(late.state, 'disconnected');
      assert.deepEqual(alarms.active().map((a) => a.source), ['replication:standby2.example.com']);
      ctl('replication', 'remove', 'standby2.example.com');
      await w.check();
      assert.deepEqual(alarms.active(), []);
    } finally {
      skew = skewBefore;
    }
  });

  it('warns with REPLICATION_WAL_RETAINED when the slots keep more than their share of p2', async () => {
    const alarms = new Alarms(() => new Date(now()));
    await primarySql`SELECT pg_switch_wal()`;
    const { watch: w, mailer } = watch({ sql: primarySql, role: 'primary', alarms, walPartition: dir, walShare: 1e-9 });
    mailer.stop();
    await w.check();
    const [alarm, ...more] = alarms.active();
    assert.equal(more.length, 0);
    assert.equal(alarm!.code, 'REPLICATION_WAL_RETAINED');
    assert.equal(alarm!.severity, 'warning');
    assert.match(alarm!.text, /^the replication slots keep \d+ MB of WAL on p2 \(standby1\.example\.com \d+ MB\), more than 0 % /);
    // At the default share (a quarter of p2's room for it) a few MB are no concern.
    const { watch: calm } = watch({ sql: primarySql, role: 'primary', alarms, walPartition: dir });
    await calm.check();
    assert.deepEqual(alarms.active(), []);
  });
});
