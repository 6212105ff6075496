// What the API says of replication: the schemas with their types, one
// declaration (a leaf module: a Manager page can import the types).
import { T, type Static } from '../api';

export const StandbyView = T.Object({
  name: T.String({ description: 'a domain name, lower-cased' }),
  password: T.String({ description: 'to be used on the standby as handed over' }),
  createdAt: T.String({ format: 'date-time' }),
  role: T.String({ description: 'its PostgreSQL role (LOGIN REPLICATION), ap_standby_ and 16 hex digits of the name' }),
  slot: T.String({ description: 'its physical replication slot, named like the role' }),
  slotExists: T.Boolean({ description: 'false while off, or until a failed step is repaired' }),
  active: T.Boolean({ description: 'a standby streams from the slot now' }),
  restartLsn: T.Union([T.String(), T.Null()], { description: 'the oldest WAL the slot keeps' }),
  retainedBytes: T.Union([T.Number(), T.Null()], { description: 'WAL kept for it: pg_current_wal_lsn() - restart_lsn' }),
});
export type StandbyView = Static<typeof StandbyView>;

export const StandbyStateView = T.Object({
  primary: T.Object({ host: T.String(), port: T.Integer() }, { description: 'where this standby streams from' }),
  name: T.String({ description: 'its standby name on the primary' }),
  switching: T.Boolean({ description: 'true in the answer that set it up: the supervisor is putting the copy in place and composing again as a standby' }),
  streaming: T.Boolean({ description: "the WAL receiver streams from the primary now (pg_stat_wal_receiver.status = 'streaming')" }),
  receiverStatus: T.Union([T.String(), T.Null()], { description: 'pg_stat_wal_receiver.status, null without a receiver' }),
  receivedLsn: T.Union([T.String(), T.Null()], { description: 'pg_last_wal_receive_lsn()' }),
  replayedLsn: T.Union([T.String(), T.Null()], { description: 'pg_last_wal_replay_lsn()' }),
  replayDelaySeconds: T.Union([T.Number(), T.Null()], { description: '0 when all received WAL is replayed, else the age of the last replayed transaction' }),
  since: T.Optional(T.Union([T.String({ format: 'date-time' }), T.Null()], { description: 'GET: since when it streams, or not, as the replication watch saw it (this supervisor\'s start at the latest)' })),
});
export type StandbyStateView = Static<typeof StandbyStateView>;

export const ReplicationView = T.Object({
  mode: T.Union([T.Literal('off'), T.Literal('primary'), T.Literal('standby')]),
  standby: T.Optional(StandbyStateView),
  listen: T.Object({
    addresses: T.String({ description: "PostgreSQL's listen_addresses while primary (--pg-listen)" }),
    port: T.Integer({ description: 'the TCP port standbys connect to (--db-port; 5432 on a box)' }),
    active: T.Boolean({ description: 'PostgreSQL listens on TCP now' }),
  }),
  maxStandbys: T.Integer(),
  standbys: T.Array(StandbyView),
});
export type ReplicationView = Static<typeof ReplicationView>;

/** What the replication watch adds to a standby (src/replication/monitor.ts). */
export const StandbyWatched = T.Object({
  connected: T.Boolean({ description: 'as the replication watch last saw it (fresh after a change): a standby streams from the slot' }),
  state: T.String({ description: "pg_stat_replication's state (streaming, catchup, backup…), disconnected, or waiting (added less than 2 minutes ago, not connected yet)" }),
  lagBytes: T.Union([T.Number(), T.Null()], { description: 'WAL it has not replayed: pg_current_wal_lsn() - replay_lsn (restart_lsn while not connected)' }),
  lagSeconds: T.Union([T.Number(), T.Null()], { description: 'seconds it is behind in replaying (replay_lag; 0 when caught up), null while not connected' }),
  since: T.Union([T.String({ format: 'date-time' }), T.Null()], { description: 'since when it is connected, or not (as far as this supervisor saw)' }),
});

/** A standby as the API answers it: its entry and slot, and what the watch saw. */
export const StandbyShown = T.Object({ ...StandbyView.properties, ...StandbyWatched.properties });
export type StandbyShown = Static<typeof StandbyShown>;

export const ReplicationShown = T.Object({ ...ReplicationView.properties, standbys: T.Array(StandbyShown) });
export type ReplicationShown = Static<typeof ReplicationShown>;
