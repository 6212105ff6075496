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
