// Watching the replication (docs/replication.md, "Watching"): a primary looks
// at each standby's slot and walsender, a standby at its WAL receiver, every
// 10 s and at once after a change. A broken link raises REPLICATION_BROKEN at
// once (one per standby on a primary, one on a standby) and clears it when
// the link streams again; an alarm still active after 5 minutes sends one
// mail (the seed). On a primary, WAL kept by the slots beyond a share of p2
// raises REPLICATION_WAL_RETAINED. Lag and state go to the metrics and to
// GET /replication through `latest`.
import { statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Sql } from 'postgres';
import type { Alarm, Alarms } from '../alarms';
import { describe } from '../errors';
import type { Logger } from '../log';
import { standbyRole } from './names';

export const BROKEN = 'REPLICATION_BROKEN';
export const WAL_RETAINED = 'REPLICATION_WAL_RETAINED';
/** Alarms of the standby side, and the WAL warning, have this source; a primary's per standby `replication:<name>`. */
export const SOURCE = 'replication';

export interface WatchOptions {
  /** A primary: the manager database as superuser; a standby: any connection (read-only). */
  readonly sql: Sql;
  readonly role: 'primary' | 'standby';
  readonly alarms: Pick<Alarms, 'raise' | 'clear' | 'isActive' | 'active'>;
  /** Sends a mail to the alarm address (the monitor's Mailer). */
  readonly mail: (mail: { subject: string; text: string }) => void;
  readonly log: Logger;
  /** The metrics store (src/monitor), or none. */
  readonly metrics?: {
    describe(name: string, info: { help: string; type: 'gauge' | 'counter' }): void;
    set(name: string, labels: Readonly<Record<string, string>>, value: number, time: number): void;
  };
  /** On a primary: whether it is one now (the mode can change while we watch); default yes. */
  readonly enabled?: () => Promise<boolean>;
  /** On a primary: a path on the partition the cluster lives on (p2), for the WAL warning. */
  readonly walPartition?: string;
  readonly now?: () => number;
  /** A standby entry younger than this that has not connected yet is not broken (default 2 min). */
  readonly graceMs?: number;
  /** On a standby: for this long after the watch started, a WAL receiver not streaming yet is not broken (default 30 s). */
  readonly startGraceMs?: number;
  /** An alarm active this long sends its mail (default 5 min, the seed's). */
  readonly mailAfterMs?: number;
  /** WAL kept by the slots above this share of (free space + kept WAL) raises the warning (default 0.25). */
  readonly walShare?: number;
  /** Names the box in mails (default: its host name, as the monitor's mails do). */
  readonly box?: string;
}

export interface StandbyWatch {
  readonly name: string;
  /** A standby streams from its slot now. */
  readonly connected: boolean;
  /** pg_stat_replication's state (streaming, catchup, backup…), or disconnected, or waiting (new, within the grace period). */
  readonly state: string;
  readonly sentLsn: string | null;
  readonly writeLsn: string | null;
  readonly flushLsn: string | null;
  readonly replayLsn: string | null;
  /** pg_current_wal_lsn() - replay_lsn (restart_lsn while not connected). */
  readonly lagBytes: number | null;
  /** replay_lag (0 when PostgreSQL shows none: caught up and idle), null when not connected. */
  readonly lagSeconds: number | null;
  /** WAL its slot keeps. */
  readonly retainedBytes: number | null;
  /** Since when it is connected, or not (as far as this supervisor saw). */
  readonly since: string | null;
}

export interface ReceiverWatch {
  /** A WAL receiver streams from the primary now. */
  readonly receiving: boolean;
  /** pg_stat_wal_receiver's status, or none (no WAL receiver), waiting (none yet, just started), or promoted (not in recovery). */
  readonly status: string;
  /** pg_stat_wal_receiver's status as PostgreSQL says it, null without a WAL receiver. */
  readonly receiverStatus: string | null;
  readonly senderHost: string | null;
  readonly senderPort: number | null;
  readonly latestEndLsn: string | null;
  readonly lastMessageAt: string | null;
  readonly receiveLsn: string | null;
  readonly replayLsn: string | null;
  readonly replayedAt: string | null;
  /** Received but not replayed yet. */
  readonly lagBytes: number | null;
  /** now - the last replayed commit's time; 0 when all received WAL is replayed. */
  readonly lagSeconds: number | null;
  readonly since: string | null;
}

export interface WatchView {
  readonly role: 'primary' | 'standby';
  readonly checkedAt: string | null;
  /** A primary's standbys (none while it is not one). */
  readonly standbys: readonly StandbyWatch[];
  /** A standby's link to its primary. */
  readonly receiver: ReceiverWatch | null;
}

export const WATCH_METRICS: Record<string, { help: string; type: 'gauge' }> = {
  ap_replication_standby_connected: { help: 'A standby streams from its slot now (1) or not (0)', type: 'gauge' },
  ap_replication_lag_bytes: { help: "Bytes of WAL a standby has not replayed yet (its slot's restart point while not connected)", type: 'gauge' },
  ap_replication_lag_seconds: { help: 'Seconds a standby is behind in replaying (replay_lag)', type: 'gauge' },
  ap_replication_retained_bytes: { help: "WAL a standby's slot keeps on the primary", type: 'gauge' },
  ap_replication_receiving: { help: 'This standby receives WAL from its primary now (1) or not (0)', type: 'gauge' },
  ap_replication_replay_lag_seconds: { help: "Seconds since the last replayed commit, while WAL waits to be replayed (0 when all is replayed)", type: 'gauge' },
  ap_replication_replay_lag_bytes: { help: 'Bytes of WAL received but not replayed yet', type: 'gauge' },
};

interface SlotRow {
  slot_name: string;
  active: boolean;
  retained: number | null;
  state: string | null;
  sent_lsn: string | null;
  write_lsn: string | null;
  flush_lsn: string | null;
  replay_lsn: string | null;
  lag_bytes: number | null;
  lag_seconds: number | null;
}

interface ReceiverRow {
  recovery: boolean;
  status: string | null;
  sender_host: string | null;
  sender_port: number | null;
  latest_end_lsn: string | null;
  last_msg_receipt_time: Date | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  replay_at: Date | null;
  lag_bytes: number | null;
  lag_seconds: number | null;
}

const MB = 1024 * 1024;

export class ReplicationWatch {
  private view: WatchView;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<WatchView> | null = null;
  private again = false;
  /** Per standby name (or "" for our primary): connected or not, since when (ms). */
  private readonly links = new Map<string, { up: boolean; at: number; seenUp: boolean }>();
  /** Alarms (by id) whose 5-minute mail went out, or that were older than that when we first saw them. */
  private readonly mailed = new Set<number>();
  private firstLook = true;
  private failing = false;
  private readonly startedAt: number;
  private lastSender: string | null = null;
  private readonly now: () => number;

  constructor(private readonly options: WatchOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.view = { role: options.role, checkedAt: null, standbys: [], receiver: null };
    for (const [name, info] of Object.entries(WATCH_METRICS)) options.metrics?.describe(name, info);
  }

  /** Checks now and every `intervalMs`. */
  start(intervalMs: number): void {
    this.forgetOtherRole();
    this.poke();
    this.timer = setInterval(() => this.poke(), intervalMs);
    this.timer.unref();
  }

  /**
   * Alarms of the role this box had before a switch (standby, promotion) that
   * no look of this role would clear: a standby has no standbys of its own,
   * and a box that is no standby any more no link to a primary.
   */
  private forgetOtherRole(): void {
    const { alarms, role } = this.options;
    for (const alarm of alarms.active()) {
      const ours = alarm.code === BROKEN || alarm.code === WAL_RETAINED;
      const otherRole = role === 'standby' ? alarm.source.startsWith(`${SOURCE}:`) || alarm.code === WAL_RETAINED : alarm.source === SOURCE && alarm.code === BROKEN;
      if (ours && otherRole) alarms.clear(alarm.source, alarm.code);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => {});
  }

  /** What the last check saw. */
  latest(): WatchView {
    return this.view;
  }

  /** A check now, without waiting for it (after a change). */
  poke(): void {
    void this.check().catch(() => {});
  }

  /** Looks now (one look at a time: a call during one makes it look once more); resolves with what it saw. */
  check(): Promise<WatchView> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.look().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** The mail rule alone (the check runs it too): one mail per alarm of ours active for `mailAfterMs`. */
  tick(): void {
    const after = this.options.mailAfterMs ?? 5 * 60_000;
    const now = this.now();
    for (const alarm of this.options.alarms.active()) {
      if (!ours(alarm) || alarm.code !== BROKEN || this.mailed.has(alarm.id)) continue;
      const age = now - Date.parse(alarm.raisedAt);
      // Older than that at our first look: raised before a restart, and mailed then.
      if (this.firstLook && age >= after) this.mailed.add(alarm.id);
      else if (age >= after) {
        this.mailed.add(alarm.id);
        const minutes = Math.round(age / 60_000);
        this.options.mail({
          subject: `App Platform alarm: ${alarm.code} (${alarm.source}) for ${minutes} minutes`,
          text: `${alarm.text}\n\nRaised ${alarm.raisedAt} on ${this.options.box ?? hostname()} and still active after ${minutes} minutes. Fix the replication soon: the primary keeps the WAL a standby has not fetched, and its disk fills.`,
        });
      }
    }
    this.firstLook = false;
    const activeIds = new Set(this.options.alarms.active().map((a) => a.id));
    for (const id of this.mailed) if (!activeIds.has(id)) this.mailed.delete(id);
  }

  private async look(): Promise<WatchView> {
    try {
      do {
        this.again = false;
        this.view = this.options.role === 'primary' ? await this.lookAsPrimary() : await this.lookAsStandby();
      } while (this.again);
      if (this.failing) this.options.log.info('replication watch: looking again');
      this.failing = false;
    } catch (err) {
      // The database is away (DATABASE_DOWN says so): nothing is judged on no answer, and said once.
      if (!this.failing) this.options.log.warn(`replication watch: cannot look (${describe(err)})`);
      this.failing = true;
      throw err;
    } finally {
      this.tick();
    }
    return this.view;
  }

  private async lookAsPrimary(): Promise<WatchView> {
    const { sql, alarms } = this.options;
    const now = this.now();
    const checkedAt = new Date(now).toISOString();
    const enabled = (await this.options.enabled?.()) ?? true;
    const entries = enabled ? await sql<{ name: string; created_at: Date }[]>`SELECT name, created_at FROM replication_standbys ORDER BY name` : [];
    const rows = enabled ? await this.slots() : [];
    const standbys: StandbyWatch[] = [];
    for (const entry of entries) {
      const row = rows.find((r) => r.slot_name === standbyRole(entry.name));
      const connected = row?.active ?? false;
      const link = this.link(entry.name, connected, now);
      const source = `${SOURCE}:${entry.name}`;
      const fresh = !link.seenUp && now - entry.created_at.getTime() < (this.options.graceMs ?? 120_000);
      if (connected) alarms.clear(source, BROKEN);
      else if (!fresh && !alarms.isActive(source, BROKEN)) {
        const why = row === undefined ? 'its replication slot is missing (turn replication primary again, or restart)' : 'its replication slot is not in use';
        alarms.raise(source, BROKEN, 'major', `standby ${entry.name} is not replicating since ${new Date(link.at).toISOString()}: ${why}; the primary keeps its WAL meanwhile`);
      }
      standbys.push({
        name: entry.name,
        connected,
        state: connected ? (row?.state ?? 'startup') : fresh ? 'waiting' : 'disconnected',
        sentLsn: row?.sent_lsn ?? null,
        writeLsn: row?.write_lsn ?? null,
        flushLsn: row?.flush_lsn ?? null,
        replayLsn: row?.replay_lsn ?? null,
        lagBytes: row?.lag_bytes ?? null,
        // PostgreSQL shows no replay_lag once a standby has caught up and nothing is written.
        lagSeconds: connected ? (row?.lag_seconds ?? 0) : null,
        retainedBytes: row?.retained ?? null,
        since: new Date(link.at).toISOString(),
      });
      this.metric('ap_replication_standby_connected', { standby: entry.name }, connected ? 1 : 0, now);
      if (row?.lag_bytes != null) this.metric('ap_replication_lag_bytes', { standby: entry.name }, row.lag_bytes, now);
      const lagSeconds = standbys.at(-1)!.lagSeconds;
      if (lagSeconds !== null) this.metric('ap_replication_lag_seconds', { standby: entry.name }, lagSeconds, now);
      if (row?.retained != null) this.metric('ap_replication_retained_bytes', { standby: entry.name }, row.retained, now);
    }
    // A removed standby (or all, while off) has nothing left to be broken.
    const names = new Set(entries.map((e) => e.name));
    for (const alarm of alarms.active()) {
      if (alarm.code === BROKEN && alarm.source.startsWith(`${SOURCE}:`) && !names.has(alarm.source.slice(SOURCE.length + 1))) alarms.clear(alarm.source, BROKEN);
    }
    for (const name of [...this.links.keys()]) if (!names.has(name)) this.links.delete(name);
    await this.judgeRetained(standbys);
    return { role: 'primary', checkedAt, standbys, receiver: null };
  }

  private slots(): Promise<SlotRow[]> {
    // Joined on the walsender that holds the slot: the standby's application_name is its own business.
    return this.options.sql<SlotRow[]>`
      SELECT s.slot_name, s.active,
             CASE WHEN s.restart_lsn IS NULL THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 END AS retained,
             r.state, r.sent_lsn::text, r.write_lsn::text, r.flush_lsn::text, r.replay_lsn::text,
             pg_wal_lsn_diff(pg_current_wal_lsn(), COALESCE(r.replay_lsn, s.restart_lsn))::float8 AS lag_bytes,
             EXTRACT(epoch FROM r.replay_lag)::float8 AS lag_seconds
        FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
       WHERE s.slot_type = 'physical'`;
  }

  /** WAL kept by the slots against the space p2 has for it: a warning before it fills p2. */
  private async judgeRetained(standbys: readonly StandbyWatch[]): Promise<void> {
    const { alarms, walPartition } = this.options;
    if (!walPartition) return;
    const kept = standbys.reduce((sum, s) => sum + (s.retainedBytes ?? 0), 0);
    let free: number;
    try {
      const fs = await statfs(walPartition);
      free = fs.bavail * fs.bsize;
    } catch (err) {
      this.options.log.warn(`replication watch: cannot read the free space of ${walPartition} (${describe(err)})`);
      return;
    }
    const share = this.options.walShare ?? 0.25;
    if (kept === 0 || kept <= share * (free + kept)) {
      alarms.clear(SOURCE, WAL_RETAINED);
      return;
    }
    const worst = [...standbys].filter((s) => (s.retainedBytes ?? 0) > 0).sort((a, b) => (b.retainedBytes ?? 0) - (a.retainedBytes ?? 0));
    const list = worst.map((s) => `${s.name} ${Math.round((s.retainedBytes ?? 0) / MB)} MB${s.connected ? '' : ' (not connected)'}`).join(', ');
    alarms.raise(
      SOURCE,
      WAL_RETAINED,
      'warning',
      `the replication slots keep ${Math.round(kept / MB)} MB of WAL on p2 (${list}), more than ${Math.round(share * 100)} % of what p2 has for it (free ${Math.round(free / MB)} MB + kept); bring the absent standbys back or remove them before p2 fills`,
    );
  }

  private async lookAsStandby(): Promise<WatchView> {
    const { alarms } = this.options;
    const now = this.now();
    const [row] = await this.options.sql<ReceiverRow[]>`
      SELECT pg_is_in_recovery() AS recovery, w.status, w.sender_host, w.sender_port, w.latest_end_lsn::text, w.last_msg_receipt_time,
             pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn,
             pg_last_xact_replay_timestamp() AS replay_at,
             GREATEST(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8 AS lag_bytes,
             -- A restarted receiver counts from the start of its segment, behind what was replayed before: caught up, not behind.
             CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() OR pg_last_wal_receive_lsn() < pg_last_wal_replay_lsn() THEN 0
                  ELSE EXTRACT(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag_seconds
        FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver w ON true`;
    const r = row!;
    const receiving = r.status === 'streaming';
    if (r.sender_host) this.lastSender = `${r.sender_host}${r.sender_port ? ` port ${r.sender_port}` : ''}`;
    const link = this.link('', receiving, now);
    // Just started: its WAL receiver may not have connected yet.
    const fresh = !link.seenUp && now - this.startedAt < (this.options.startGraceMs ?? 30_000);
    const status = !r.recovery ? 'promoted' : (r.status ?? (fresh ? 'waiting' : 'none'));
    if (receiving || !r.recovery) alarms.clear(SOURCE, BROKEN);
    else if (!fresh && !alarms.isActive(SOURCE, BROKEN)) {
      const from = this.lastSender ? `the primary (${this.lastSender})` : 'the primary';
      const why = r.status === null ? 'no WAL receiver runs (the primary is unreachable, or refused the connection: the standby\'s PostgreSQL log says why)' : `its WAL receiver is ${r.status}`;
      alarms.raise(SOURCE, BROKEN, 'major', `this standby receives no WAL from ${from} since ${new Date(link.at).toISOString()}: ${why}`);
    }
    const receiver: ReceiverWatch = {
      receiving,
      status,
      receiverStatus: r.status,
      senderHost: r.sender_host,
      senderPort: r.sender_port,
      latestEndLsn: r.latest_end_lsn,
      lastMessageAt: r.last_msg_receipt_time?.toISOString() ?? null,
      receiveLsn: r.receive_lsn,
      replayLsn: r.replay_lsn,
      replayedAt: r.replay_at?.toISOString() ?? null,
      lagBytes: r.lag_bytes,
      lagSeconds: r.lag_seconds === null ? null : Math.max(0, r.lag_seconds),
      since: new Date(link.at).toISOString(),
    };
    this.metric('ap_replication_receiving', {}, receiving ? 1 : 0, now);
    if (receiver.lagSeconds !== null) this.metric('ap_replication_replay_lag_seconds', {}, receiver.lagSeconds, now);
    if (receiver.lagBytes !== null) this.metric('ap_replication_replay_lag_bytes', {}, receiver.lagBytes, now);
    return { role: 'standby', checkedAt: new Date(now).toISOString(), standbys: [], receiver };
  }

  /** Records a link's state; `at` is when it last changed (or when we first saw it). */
  private link(name: string, up: boolean, now: number): { at: number; seenUp: boolean } {
    const before = this.links.get(name);
    const link = { up, at: before && before.up === up ? before.at : now, seenUp: up || (before?.seenUp ?? false) };
    this.links.set(name, link);
    return link;
  }

  private metric(name: string, labels: Record<string, string>, value: number, time: number): void {
    this.options.metrics?.set(name, labels, value, time);
  }
}

/** An alarm this watch raises. */
function ours(alarm: Alarm): boolean {
  return alarm.source === SOURCE || alarm.source.startsWith(`${SOURCE}:`);
}
